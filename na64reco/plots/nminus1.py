"""N-1 distributions: each cut's variable with every other cut applied, the cut value(s) of the
period, the rejected side shaded and, while blinded, the blinded side of signal-region cuts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from na64reco.cutsets.config import CutSet
from na64reco.plots.common import figure, label, save, style

__all__ = ["plot_nminus1"]


def _cut_intervals(cutset: CutSet, cut_name: str, variable: str, period: str):
    """(lines, rejected intervals, accepted intervals) on ``variable`` for one cut and period."""
    lines: list[float] = []
    accepted: list[tuple[float, float]] = [(-math.inf, math.inf)]
    cut = next((c for c in cutset.cuts if c.name == cut_name), None)
    if cut is None:
        return lines, [], accepted
    lo, hi = -math.inf, math.inf
    for cond in cut.conditions:
        if cond.variable != variable:
            continue
        try:
            cmin, cmax, ceq = cond.bounds(period)
        except ValueError:
            continue
        if ceq is not None:
            value = float(ceq)
            lo, hi = max(lo, value - 0.5), min(hi, value + 0.5)
            lines.extend([value - 0.5, value + 0.5])
        if cmin is not None:
            lo = max(lo, float(cmin))
            lines.append(float(cmin))
        if cmax is not None:
            hi = min(hi, float(cmax))
            lines.append(float(cmax))
    accepted = [(lo, hi)]
    rejected = [(-math.inf, lo), (hi, math.inf)]
    return sorted(set(lines)), rejected, accepted


def _other_conditions(cutset: CutSet, cut_name: str, variable: str, period: str) -> list[str]:
    """The cut's conditions on other variables than the plotted one, as short text."""
    cut = next((c for c in cutset.cuts if c.name == cut_name), None)
    texts: list[str] = []
    for cond in cut.conditions if cut is not None else []:
        if cond.variable == variable:
            continue
        try:
            cmin, cmax, ceq = cond.bounds(period)
        except ValueError:
            continue
        if ceq is not None:
            texts.append(f"{cond.variable} = {str(ceq).lower()}")
        if cmin is not None:
            texts.append(f"{cond.variable} >= {cmin:g}")
        if cmax is not None:
            texts.append(f"{cond.variable} < {cmax:g}")
    return texts


def plot_nminus1(
    h,
    cut_name: str,
    period: str,
    path: Path,
    *,
    summary: Mapping[str, Any],
    cutset: CutSet,
    blinded: bool = True,
) -> Path:
    """One cut's N-1 distribution with the cut value(s), rejected side shaded."""
    import mplhep
    from matplotlib.patches import Patch

    hp = h[{"period": period}] if "period" in h.axes.name else h
    axis = hp.axes[0]
    variable = axis.name
    values = np.asarray(hp.values(), dtype=float)
    edges = axis.edges
    xlo, xhi = float(edges[0]), float(edges[-1])
    lines, rejected, accepted = _cut_intervals(cutset, cut_name, variable, period)
    in_signal = cut_name in set(cutset.signal_box)
    discrete = len(values) <= 12

    with style():
        fig = figure((10.0, 8.0))
        ax = fig.add_subplot()
        if values.sum() > 0:
            mplhep.histplot(
                values, edges, ax=ax, histtype="fill" if discrete else "step", color="tab:blue",
                lw=2, alpha=0.8 if discrete else 1.0, label=f"N-1 ({cut_name})", flow="none",
            )  # fmt: skip
        positive = values[values > 0]
        ymax = float(positive.max()) if positive.size else 1.0
        ax.set_yscale("log")
        ax.set_ylim(0.5, ymax * 50)
        ax.set_xlim(xlo, xhi)
        handles = ax.get_legend_handles_labels()[0]
        shaded = False
        for a, b in rejected:
            a, b = max(a, xlo), min(b, xhi)
            if b > a:
                ax.axvspan(a, b, color="grey", alpha=0.3, lw=0, zorder=0)
                shaded = True
        if shaded:
            handles.append(Patch(color="grey", alpha=0.3, label="rejected"))
        if blinded and in_signal:
            for a, b in accepted:
                a, b = max(a, xlo), min(b, xhi)
                if b > a:
                    ax.axvspan(
                        a, b, facecolor="none", hatch="xx", edgecolor="tab:red", lw=0,
                        alpha=0.6, zorder=0.5,
                    )  # fmt: skip
                    ymid = math.sqrt(0.5 * ymax * 50)
                    text = dict(fontsize=16, color="tab:red", weight="bold", zorder=6)
                    if (b - a) < 0.08 * (xhi - xlo):  # narrow: label beside it, with an arrow
                        beside = (b + 0.08 * (xhi - xlo), ymid)
                        ax.annotate(
                            "blinded", xy=((a + b) / 2, ymid), xytext=beside,
                            va="center", ha="left", arrowprops=dict(arrowstyle="->",
                            color="tab:red"), **text,
                        )  # fmt: skip
                    else:
                        ax.text(
                            (a + b) / 2, ymid, "blinded", ha="center", va="center",
                            bbox=dict(facecolor="white", edgecolor="none", pad=1.0), **text,
                        )  # fmt: skip
            handles.append(
                Patch(facecolor="none", hatch="xx", edgecolor="tab:red", label="blinded")
            )
        for value in lines:
            if xlo <= value <= xhi:
                ax.axvline(value, color="tab:red", ls="--", lw=2)
        if lines:
            handles.append(ax.plot([], [], color="tab:red", ls="--", lw=2, label="cut value")[0])
        if values.sum() == 0:
            why = " (they are in the blinded region)" if blinded else ""
            ax.text(
                0.5, 0.12, f"no events pass the other cuts{why}", transform=ax.transAxes,
                ha="center", va="center", fontsize=14, color="dimgrey", zorder=7,
                bbox=dict(facecolor="white", edgecolor="grey", pad=4.0),
            )  # fmt: skip
        if discrete:
            centers = axis.centers
            ax.set_xticks(centers)
            ax.minorticks_off()
            if len(centers) == 2 and np.allclose(centers, [0.0, 1.0]):
                ax.set_xticklabels(["false", "true"])
            else:
                ax.set_xticklabels([f"{round(float(c), 6):g}" for c in centers])
        ax.set_xlabel(axis.label or variable)
        ax.set_ylabel("Events / bin")
        others = _other_conditions(cutset, cut_name, variable, period)
        if others:
            handles.append(Patch(fill=False, edgecolor="none", label="also: " + ", ".join(others)))
        ax.legend(handles=handles, loc="upper right", fontsize=12)
        label(ax, summary, period, f"N-1: {cut_name}")
        save(fig, path)
    return path
