"""The chain of stages that ``na64 analyze`` runs, one function per stage.

``analyze(fileset, out_dir, AnalyzeOptions(...))`` (``chain``) runs calibration, the
selections, the signal efficiencies, the background and the limits, each through the same
function as the command that runs it alone; stages are content-addressed (``stages``). The
limit stage's one entry point is ``limits.limit_document``; ``results`` and ``report`` make
``results.json`` and ``report.html``.
"""

from na64reco.pipeline.chain import LIMIT_MODELS, AnalyzeOptions, analyze
from na64reco.pipeline.limits import limit_document, write_limit

__all__ = ["LIMIT_MODELS", "AnalyzeOptions", "analyze", "limit_document", "write_limit"]
