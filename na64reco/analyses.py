"""The analyses the toolkit runs: the one list (the CLI, ``run``, ``analyze`` read it here).

Each analysis is a shipped cut set (``selections/<name>.toml``) run by the selection processor,
and names the signal samples whose efficiency its cut set measures. ``resolve_cutset`` turns an
analysis name or a cut-set file into a loaded :class:`~na64reco.cutsets.CutSet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from na64reco.cutsets.config import CutSet, load_cutset
from na64reco.errors import OptionsError
from na64reco.shipped import cutset_path


@dataclass(frozen=True)
class Analysis:
    """A shipped analysis: its cut set and the signal models it measures the efficiency of."""

    name: str
    description: str
    signal_models: tuple[str, ...] = ()

    def cutset(self) -> CutSet:
        return load_cutset(cutset_path(self.name))


ANALYSES: dict[str, Analysis] = {
    a.name: a
    for a in (
        Analysis(
            "invisible",
            "A' -> invisible, S/P/V/A, Z': single EM shower with large missing energy",
            ("aprime", "scalar", "pseudoscalar", "vector", "axial", "zprime"),
        ),
        Analysis("dimuon", "QED dimuons (two MIPs in the HCAL): the normalisation cross-check"),
        Analysis("phi", "leptonic scalar phi: E_ECAL < 50 GeV and one MIP muon", ("phi",)),
    )
}

__all__ = ["ANALYSES", "Analysis", "analysis_for_signal", "resolve_cutset"]


def resolve_cutset(analysis: str | Path | CutSet) -> CutSet:
    """The cut set of a named analysis (``invisible``, ``dimuon``, ``phi``), of a ``.toml``
    file, or the given CutSet itself."""
    if isinstance(analysis, CutSet):
        return analysis
    text = str(analysis)
    if text in ANALYSES:
        return ANALYSES[text].cutset()
    if text.endswith(".toml"):
        return load_cutset(Path(text))
    raise OptionsError(
        "analysis",
        f"unknown analysis {text!r}: use one of {', '.join(ANALYSES)} or a cut-set .toml file",
    )


def analysis_for_signal(model: str) -> Analysis | None:
    """The analysis whose cut set measures the efficiency of signal ``model`` (None: none)."""
    return next((a for a in ANALYSES.values() if model in a.signal_models), None)
