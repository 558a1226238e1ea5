"""Standard plots of a selection output: the (E_ECAL, E_HCAL) plane, the cut flow, N-1 plots.

``make_plots(output, summary, out_dir, cutset)`` writes PNGs (matplotlib Agg, mplhep ROOT style,
"NA64 Simulation" label) from the accumulator of ``na64reco.processors.selection``:

* ``plane_<period>_<stage>.png``: the (E_ECAL, E_HCAL) plane like paper 002 Fig. 2 (log colour
  scale, regions I/II/III, sidebands A and C, the hatched signal box drawn enlarged along
  E_HCAL, the E_ECAL + E_HCAL = E0 line), for the stage "all", the stage after every cut but
  the signal-region ones and, when unblinded, the last stage;
* ``cutflow_<period>.png``: events after each cut (log y); blinded (null) entries are hatched
  "blinded" bars, never numbers;
* ``sideband_variations_<period>.png`` (when variations were declared): the E_ECAL sideband,
  nominal with the band of the calibration and cut variations;
* ``nminus1_<cut>_<period>.png``: each cut's N-1 distribution with the cut value(s) of the
  period, the rejected side shaded and, while blinded, the blinded side of signal-region cuts.

One module per kind of plot (``plane``, ``cutflow``, ``variations``, ``nminus1``); ``common``
has the shared figure, style and label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from na64reco.cutsets.config import CutSet
from na64reco.plots.common import is_blinded, safe_name
from na64reco.plots.cutflow import plot_cutflow
from na64reco.plots.nminus1 import plot_nminus1
from na64reco.plots.parallel import render
from na64reco.plots.plane import plot_plane
from na64reco.plots.variations import plot_sideband_variations

PLOT_PATTERNS = ("plane_*.png", "cutflow_*.png", "sideband_variations_*.png", "nminus1_*.png")
PLOT_SETS = ("default", "all")

__all__ = [
    "PLOT_PATTERNS",
    "PLOT_SETS",
    "make_plots",
    "plot_cutflow",
    "plot_nminus1",
    "plot_paths",
    "plot_plane",
    "plot_sideband_variations",
]


def _periods(output: Mapping[str, Any]) -> list[str]:
    periods: list[str] = list((output.get("cutflow") or {}).keys())
    plane = output.get("plane")
    if plane is not None:
        for p in plane.axes["period"]:
            if p not in periods and plane[{"period": p}].sum() > 0:
                periods.append(p)
    return periods


def _stage_names(output: Mapping[str, Any], cutset: CutSet) -> list[str]:
    plane = output.get("plane")
    if plane is not None:
        return list(plane.axes["stage"])
    return ["all", *cutset.cut_names]


def _pre_signal_stage(stages: list[str], signal: Iterable[str]) -> str:
    """The stage after every cut but the trailing signal-region ones (e.g. "veto")."""
    signal = set(signal)
    cuts = [s for s in stages if s != "all"]
    while cuts and cuts[-1] in signal:
        cuts.pop()
    return cuts[-1] if cuts else "all"


def make_plots(
    output: Mapping[str, Any],
    summary: Mapping[str, Any],
    out_dir: Path,
    cutset: CutSet | None = None,
    which: str = "default",
) -> list[Path]:
    """Write the PNGs of one selection output into ``out_dir``; returns their paths.

    ``output`` is the selection processor's accumulator (``plane``, ``nminus1``, ``cutflow``;
    any may be missing); ``summary`` needs ``analysis`` and ``blinding.blinded`` (blinded
    assumed when missing) and, unless ``cutset`` is given, the cut set as run (``cutset``).
    ``which``: ``"default"``, what a physicist looks at first (the planes and the cut flow of
    every period), or ``"all"`` (the N-1 distribution of every cut too).
    """
    if which not in PLOT_SETS:
        raise ValueError(f"unknown plot set {which!r}: use one of {', '.join(PLOT_SETS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cutset is None:
        if "cutset" not in summary:
            raise ValueError("make_plots needs the cut set: give it or a summary that holds it")
        cutset = CutSet.model_validate(summary["cutset"])
    blinded = is_blinded(summary)
    common = dict(summary=summary, cutset=cutset, blinded=blinded)
    jobs = []  # (function, args, kwargs): independent plots, rendered in parallel
    periods = _periods(output)

    plane = output.get("plane")
    if plane is not None:
        stages = _stage_names(output, cutset)
        wanted = ["all", _pre_signal_stage(stages, cutset.signal_box)]
        if not blinded:
            wanted.append(stages[-1])
        wanted = [s for i, s in enumerate(wanted) if s in stages and s not in wanted[:i]]
        for period in periods:
            if period not in plane.axes["period"]:
                continue
            for stage in wanted:
                path = out_dir / f"plane_{safe_name(period)}_{safe_name(stage)}.png"
                jobs.append((plot_plane, (plane, period, stage, path), common))

    for period, flow in (output.get("cutflow") or {}).items():
        if flow:
            path = out_dir / f"cutflow_{safe_name(period)}.png"
            jobs.append((plot_cutflow, (flow, period, path), common))

    variations = output.get("variations")
    if variations is not None:
        h = variations["ecal_sideband"]
        for period in periods:
            if period in h.axes["period"]:
                path = out_dir / f"sideband_variations_{safe_name(period)}.png"
                jobs.append((plot_sideband_variations, (h, period, path), common))

    for cut_name, h in (output.get("nminus1") or {}).items() if which == "all" else ():
        for period in periods:
            if "period" in h.axes.name and period not in h.axes["period"]:
                continue
            path = out_dir / f"nminus1_{safe_name(cut_name)}_{safe_name(period)}.png"
            jobs.append((plot_nminus1, (h, cut_name, period, path), common))
    return render(jobs)


def plot_paths(out_dir: Path) -> list[Path]:
    """The plots ``make_plots`` made in ``out_dir`` (sorted: planes, cut flows, N-1)."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for pattern in PLOT_PATTERNS:
        paths.extend(sorted(out_dir.glob(pattern)))
    return paths
