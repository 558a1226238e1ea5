"""Running an event-processing stage over the files of a fileset.

``run_analysis(fileset, analysis, out_dir, options)`` runs a selection and writes its outputs
(``selection``); ``run_signal_efficiency`` measures signal efficiencies (``efficiency``). Both
go through the same steps: options (``options.RunOptions``), input validation
(``validation``), executors (``executors``), the event loop with checkpoints and accounting
(``engine``, ``checkpoint``). coffea internals are used only in ``coffea_adapter``.
"""

from na64reco.lazy import lazy_exports

_API = {
    "EXECUTORS": "na64reco.run.options",
    "ExecutorOptions": "na64reco.run.options",
    "RunOptions": "na64reco.run.options",
    "InputFile": "na64reco.run.validation",
    "validate_inputs": "na64reco.run.validation",
    "run_analysis": "na64reco.run.selection",
    "run_signal_efficiency": "na64reco.run.efficiency",
}
__all__ = sorted(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
