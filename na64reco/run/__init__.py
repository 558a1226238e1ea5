"""Running an event-processing stage over the files of a fileset.

``run_analysis(fileset, analysis, out_dir, options)`` runs a selection and writes its outputs
(``selection``); ``run_signal_efficiency`` measures signal efficiencies (``efficiency``). Both
go through the same steps: options (``options.RunOptions``), input validation
(``validation``), executors (``executors``), the event loop with checkpoints and accounting
(``engine``, ``checkpoint``). coffea internals are used only in ``coffea_adapter``.
"""

from na64reco.run.efficiency import run_signal_efficiency
from na64reco.run.options import EXECUTORS, ExecutorOptions, RunOptions
from na64reco.run.selection import run_analysis
from na64reco.run.validation import InputFile, validate_inputs

__all__ = [
    "EXECUTORS",
    "ExecutorOptions",
    "InputFile",
    "RunOptions",
    "run_analysis",
    "run_signal_efficiency",
    "validate_inputs",
]
