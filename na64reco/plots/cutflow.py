"""The cut flow: events after each cut (log y); blinded (null) entries are hatched "blinded"
bars, never numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from na64reco.cutsets.config import CutSet
from na64reco.plots.common import figure, label, save, style

__all__ = ["plot_cutflow"]


def plot_cutflow(
    flow: Mapping[str, Any],
    period: str,
    path: Path,
    *,
    summary: Mapping[str, Any],
    cutset: CutSet,
    blinded: bool = True,
) -> Path:
    """Events after each cumulative cut, log y; blinded (null) entries hatched, no number."""
    names = list(flow.keys())
    signal = set(cutset.signal_box) if blinded else set()
    counts: list[float | None] = []
    for name in names:
        value = flow[name]
        # null means blinded; a number for a signal-region cut is withheld while blinded
        if value is None or (name in signal and blinded):
            counts.append(None)
        else:
            counts.append(float(value))
    known = [c for c in counts if c is not None and c > 0]
    top = max(known) if known else 1.0
    x = np.arange(len(names))

    with style():
        fig = figure((11.0, 8.0))
        ax = fig.add_subplot()
        last = top
        for i, c in enumerate(counts):
            if c is None:
                ax.bar(
                    x[i], last, width=0.8, bottom=0.5, fill=False, hatch="//",
                    edgecolor="grey", lw=1.0,
                )  # fmt: skip
                ax.text(
                    x[i], math.sqrt(0.5 * max(last, 1.0)) * 1.2, "blinded", rotation=90,
                    ha="center", va="center", fontsize=14, color="dimgrey",
                    bbox=dict(facecolor="white", edgecolor="none", pad=1.0),
                )  # fmt: skip
                continue
            ax.bar(x[i], max(c, 0.0), width=0.8, bottom=0.5, color="tab:blue", alpha=0.85)
            ax.text(
                x[i], max(c, 0.5) * 1.15, f"{int(c):d}", ha="center", va="bottom", fontsize=11,
                rotation=90 if len(names) > 8 else 0,
            )  # fmt: skip
            last = max(c, 1.0)
        ax.set_yscale("log")
        ax.set_ylim(0.5, top * 30)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=13)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel("Events after cut")
        ax.minorticks_off()
        ax.tick_params(axis="x", which="both", top=False)
        if blinded and any(c is None for c in counts):
            from matplotlib.patches import Patch

            ax.legend(
                handles=[Patch(fill=False, hatch="//", edgecolor="grey", label="blinded")],
                loc="upper right", fontsize=13,
            )  # fmt: skip
        label(ax, summary, period, "cut flow")
        fig.subplots_adjust(left=0.1, right=0.97, top=0.93, bottom=0.25)  # room for the names
        save(fig, path)
    return path
