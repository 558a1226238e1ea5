"""na64reco: columnar reconstruction, simulation and analysis for the NA64-e experiment.

The public API (``__all__``) is loaded on first use, so ``import na64reco`` stays light:

* inputs: ``load_fileset``, ``load_cutset``, ``load_calibration``, ``load_limit_inputs``,
  ``open_event_file``;
* running: ``run_analysis`` and ``run_signal_efficiency`` with ``RunOptions``; the whole chain
  ``analyze`` with ``AnalyzeOptions``; ``simulate``;
* results: ``build_background``, ``limit_document`` (and the scan behind it, ``scan``);
* errors: ``NA64Error`` and its subclasses in ``na64reco.errors``.
"""

from __future__ import annotations

from na64reco.lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> the module that defines it
_API = {
    "AnalyzeOptions": "na64reco.pipeline.chain",
    "ConfigError": "na64reco.errors",
    "InputFileError": "na64reco.errors",
    "NA64Error": "na64reco.errors",
    "RunOptions": "na64reco.run.options",
    "analyze": "na64reco.pipeline.chain",
    "build_background": "na64reco.background.build",
    "limit_document": "na64reco.pipeline.limits",
    "load_calibration": "na64reco.calibration.io",
    "load_cutset": "na64reco.cutsets.config",
    "load_fileset": "na64reco.fileset",
    "load_limit_inputs": "na64reco.limit_inputs",
    "open_event_file": "na64reco.eventtree.reader",
    "run_analysis": "na64reco.run.selection",
    "run_signal_efficiency": "na64reco.run.efficiency",
    "scan": "na64reco.limits.scan",
    "simulate": "na64reco.sim.run",
}

__all__ = ["__version__", *sorted(_API)]
__getattr__, __dir__ = lazy_exports(__name__, _API)
