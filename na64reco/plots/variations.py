"""The E_ECAL sideband with its systematic band: nominal and the envelope of the variations.

Per bin the band is the quadrature sum over the declared nuisances of each one's largest
upward (downward) deviation of ``__up``/``__down`` from nominal: the uncorrelated sum a fit
would make of independent sources. The histogram is that of the sideband stage (every cut but
the signal-region ones), so blinded events are not in it; the box region is drawn hatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist
import numpy as np

from na64reco.cutsets.config import CutSet
from na64reco.plots.common import box_edges, figure, label, save, style

__all__ = ["band", "plot_sideband_variations"]


def band(h: hist.Hist, period: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nominal, up, down) counts per E_ECAL bin of ``period`` (up/down: nominal +- band)."""
    nominal = h[{"syst": "nominal", "period": period}].values()
    up2 = np.zeros_like(nominal, dtype=float)
    down2 = np.zeros_like(nominal, dtype=float)
    names = {s.rpartition("__")[0] for s in h.axes["syst"] if s != "nominal"}
    for name in sorted(names):
        dev = np.stack(
            [
                h[{"syst": f"{name}__{d}", "period": period}].values() - nominal
                for d in ("up", "down")
            ]
        )
        up2 += np.square(np.clip(dev.max(axis=0), 0.0, None))
        down2 += np.square(np.clip(dev.min(axis=0), None, 0.0))
    return nominal, nominal + np.sqrt(up2), np.clip(nominal - np.sqrt(down2), 0.0, None)


def plot_sideband_variations(
    h: hist.Hist,
    period: str,
    path: Path,
    *,
    summary: Mapping[str, Any],
    cutset: CutSet,
    blinded: bool = True,
) -> Path:
    """Nominal E_ECAL of the sideband stage with the systematic band of the variations."""
    nominal, up, down = band(h, period)
    edges = h.axes["ecal_e"].edges
    with style():
        fig = figure((11.0, 8.0))
        ax = fig.add_subplot()
        ax.stairs(nominal, edges, color="black", lw=1.5, label="nominal")
        ax.stairs(up, edges, baseline=down, fill=True, color="tab:orange", alpha=0.45,
                  label="calibration and cut variations (quadrature)")  # fmt: skip
        box = box_edges(cutset, period)
        if box is not None and blinded:
            ax.axvspan(0.0, box[0], fill=False, hatch="//", edgecolor="grey", lw=0.0,
                       label="box region (blinded at E_HCAL < 1 GeV)")  # fmt: skip
        ax.set_xlabel("E_ECAL [GeV]")
        ax.set_ylabel("events / GeV")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(bottom=0.0)
        ax.legend(loc="upper right", fontsize=12)
        label(ax, summary, period, title="sideband stage, systematic band")
        return save(fig, path)
