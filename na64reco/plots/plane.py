"""The (E_ECAL, E_HCAL) plane like paper 002 Fig. 2: log colour scale, regions I/II/III,
sidebands A and C, the hatched signal box drawn enlarged along E_HCAL, the E_ECAL + E_HCAL = E0
line (E0: the period's beam energy)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from na64reco.conditions import get_period
from na64reco.cutsets.config import CutSet
from na64reco.plots.common import box_edges, figure, label, save, style

BOX_ENLARGE = 5.0  # the E_HCAL < threshold band is drawn this many times taller (paper 002 Fig. 2)

__all__ = ["plot_plane"]


def _box(ax, ecal_max: float, hcal_max: float, xmax: float, ymax: float, blinded: bool) -> list:
    """Draw the signal box (hatched, enlarged along E_HCAL) and the sidebands A and C; the
    legend entries."""
    from matplotlib.patches import Patch, Rectangle

    band = hcal_max * BOX_ENLARGE  # drawn height of the E_HCAL < threshold band
    # Sidebands A (E_ECAL < box, E_HCAL > thr) and C (E_ECAL > box, E_HCAL < thr)
    side = dict(fill=False, lw=2.0, ls="-", edgecolor="black", zorder=4)
    ax.add_patch(Rectangle((0, band), ecal_max, ymax - band, **side))
    ax.add_patch(Rectangle((ecal_max, 0), xmax - ecal_max, band, **side))
    ax.text(ecal_max - 3, ymax - 4, "A", ha="right", va="top", fontsize=22, weight="bold")
    ax.text(xmax - 3, band / 2, "C", ha="right", va="center", fontsize=20, weight="bold")

    # The signal box, hatched, enlarged along E_HCAL
    ax.add_patch(
        Rectangle(
            (0, 0), ecal_max, band, fill=False, hatch="///", edgecolor="tab:red", lw=2.0, zorder=5
        )
    )
    if blinded:
        ax.add_patch(Rectangle((0, 0), ecal_max, band, color="white", alpha=0.7, zorder=4.5))
        ax.text(
            ecal_max / 2, band / 2, "blinded", ha="center", va="center", fontsize=16,
            color="tab:red", weight="bold", zorder=6,
            bbox=dict(facecolor="white", edgecolor="none", pad=1.0),
        )  # fmt: skip

    return [
        Patch(fill=False, hatch="///", edgecolor="tab:red",
              label=rf"signal box $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$ GeV"),
        Patch(fill=False, edgecolor="none",
              label=rf"(box and C drawn $\times${BOX_ENLARGE:g} in $E_{{HCAL}}$"
                    " for visibility)"),
        Patch(fill=False, edgecolor="black",
              label=rf"A: $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}>{hcal_max:g}$;"
                    rf" C: $E_{{ECAL}}>{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$"),
    ]  # fmt: skip


def plot_plane(
    plane,
    period: str,
    stage: str,
    path: Path,
    *,
    summary: Mapping[str, Any],
    cutset: CutSet,
    blinded: bool = True,
) -> Path:
    """One (E_ECAL, E_HCAL) plane like paper 002 Fig. 2 (the box and the sidebands A and C
    drawn when the cut set has a box in E_ECAL and E_HCAL)."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    h = plane[{"period": period, "stage": stage}]
    values = np.asarray(h.values(), dtype=float)
    xedges, yedges = h.axes[0].edges, h.axes[1].edges
    edges = box_edges(cutset, period)
    beam = get_period(period).beam_energy_gev
    xmax, ymax = float(xedges[-1]), float(yedges[-1])

    with style():
        fig = figure((11.0, 8.5))
        ax = fig.add_subplot()
        masked = np.ma.masked_less_equal(values.T, 0)
        vmax = max(float(values.max()), 10.0)
        mesh = ax.pcolormesh(
            xedges, yedges, masked, cmap="viridis", norm=LogNorm(vmin=1, vmax=vmax), rasterized=True
        )
        cbar = fig.colorbar(mesh, ax=ax, pad=0.02)
        dx, dy = float(np.diff(xedges).mean()), float(np.diff(yedges).mean())
        cbar.set_label(rf"Events / ({dx:g} GeV $\times$ {dy:g} GeV)")
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, ymax)

        # E_ECAL + E_HCAL = E0 (labelled in the legend)
        line_x = np.array([0.0, beam])
        ax.plot(line_x, beam - line_x, color="tab:red", ls="--", lw=1.5)
        handles = [] if edges is None else _box(ax, *edges, xmax, ymax, blinded)

        # Regions I (dimuons), II (hadron electroproduction), III (pile-up)
        reg = dict(fontsize=22, weight="bold", color="black", ha="center", va="center", zorder=6)
        box = dict(boxstyle="circle,pad=0.25", facecolor="white", edgecolor="black", alpha=0.85)
        ax.text(20, 12, "I", bbox=box, **reg)  # dimuons: E_HCAL ~ 10 GeV
        ax.text(30, 55, "II", bbox=box, **reg)  # E_ECAL + E_HCAL ~ 100 GeV
        ax.text(105, 45, "III", bbox=box, **reg)  # E_ECAL + E_HCAL > 100 GeV
        ax.set_xlabel(r"$E_{ECAL}$ [GeV]")
        ax.set_ylabel(r"$E_{HCAL}$ [GeV]")
        handles += [
            Line2D([], [], color="tab:red", ls="--", lw=1.5,
                   label=rf"$E_{{ECAL}}+E_{{HCAL}}={beam:g}$ GeV"),
            Patch(fill=False, edgecolor="none",
                  label="I: dimuons, II: hadron electroproduction, III: pile-up"),
        ]  # fmt: skip
        ax.legend(handles=handles, loc="upper right", fontsize=11, frameon=True, framealpha=0.9)
        title = "all events" if stage == "all" else f"after the cuts up to {stage}"
        label(ax, summary, period, title)
        save(fig, path)
    return path
