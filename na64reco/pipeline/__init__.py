"""The chain of stages that ``na64 analyze`` runs, one function per stage.

``analyze(fileset, out_dir, AnalyzeOptions(...))`` (``chain``) runs calibration, the
selections, the signal efficiencies, the background and the limits, each through the same
function as the command that runs it alone; stages are content-addressed (``stages``). The
limit stage's one entry point is ``limits.limit_document``; ``results`` and ``report`` make
``results.json`` and ``report.html``.
"""

from na64reco.lazy import lazy_exports

_API = {
    "LIMIT_MODELS": "na64reco.pipeline.chain",
    "AnalyzeOptions": "na64reco.pipeline.chain",
    "analyze": "na64reco.pipeline.chain",
    "limit_document": "na64reco.pipeline.limits",
    "write_limit": "na64reco.pipeline.limits",
}
__all__ = sorted(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
