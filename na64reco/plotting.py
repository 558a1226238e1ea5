"""Standard plots of a selection output: the (E_ECAL, E_HCAL) plane, the cut flow, N-1 plots.

``make_plots(output, summary, out_dir, cutset)`` writes PNGs (matplotlib Agg, mplhep ROOT style,
"NA64 Simulation" label) from the accumulator of ``na64reco.processors.selection``:

* ``plane_<period>_<stage>.png``: the (E_ECAL, E_HCAL) plane like paper 002 Fig. 2 (log colour
  scale, regions I/II/III, sidebands A and C, the hatched signal box drawn enlarged along
  E_HCAL, the E_ECAL + E_HCAL = 100 GeV line), for the stage "all", the stage after every cut but
  the signal-region ones and, when unblinded, the last stage;
* ``cutflow_<period>.png``: events after each cut (log y); blinded (null) entries are hatched
  "blinded" bars, never numbers;
* ``nminus1_<cut>_<period>.png``: each cut's N-1 distribution with the cut value(s) of the
  period, the rejected side shaded and, while blinded, the blinded side of signal-region cuts.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: pyplot, its global
backend and its figure registry are never touched, so nothing is left open. Nothing is fetched
from the network (the ROOT style's fonts ship with ``mplhep_data``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from na64reco.cutsets.config import CutSet

PLOT_PATTERNS = ("plane_*.png", "cutflow_*.png", "nminus1_*.png")
BEAM_ENERGY = 100.0  # GeV
BOX_ENLARGE = 5.0  # the E_HCAL < threshold band is drawn this many times taller (paper 002 Fig. 2)
# Paper 002 defaults when no cut set says otherwise
DEFAULT_SIGNAL_BOX = ("trigger", "hcal_zero", "box")
DEFAULT_ECAL_MAX = 50.0
DEFAULT_HCAL_MAX = 1.0


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _figure(figsize: tuple[float, float] = (10.0, 8.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _style():
    import matplotlib.style
    import mplhep

    return matplotlib.style.context(mplhep.style.ROOT)


def _label(ax, summary: Mapping[str, Any], period: str) -> None:
    import mplhep

    analysis = summary.get("analysis") or ""
    rlabel = f"{period}" + (f", {analysis}" if analysis else "")
    # data=False: mplhep writes "Simulation" after the experiment name ("NA64 Simulation")
    mplhep.label.exp_label(exp="NA64", data=False, rlabel=rlabel, loc=0, ax=ax)


def _save(fig, path: Path, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    fig.clear()
    written.append(path)


def _is_blinded(summary: Mapping[str, Any]) -> bool:
    """Blinded unless the summary explicitly says otherwise (the safe default)."""
    blinding = summary.get("blinding")
    if isinstance(blinding, Mapping):
        return bool(blinding.get("blinded", True))
    if isinstance(blinding, bool):
        return blinding
    return True


def _resolve_cutset(cutset: CutSet | None, summary: Mapping[str, Any]) -> CutSet | None:
    if cutset is not None:
        return cutset
    raw = summary.get("cutset")
    if isinstance(raw, Mapping):
        try:
            return CutSet.model_validate(dict(raw))
        except Exception:  # a summary without a usable cut set: fall back to defaults
            return None
    return None


def _signal_cuts(cutset: CutSet | None) -> tuple[str, ...]:
    return tuple(cutset.signal_box) if cutset is not None else DEFAULT_SIGNAL_BOX


def _box_edges(cutset: CutSet | None, period: str) -> tuple[float, float]:
    """(E_ECAL max, E_HCAL max) of the signal box for one period."""
    ecal_max, hcal_max = DEFAULT_ECAL_MAX, DEFAULT_HCAL_MAX
    if cutset is None:
        return ecal_max, hcal_max
    for cut in cutset.cuts:
        if cut.name not in cutset.signal_box:
            continue
        for cond in cut.conditions:
            try:
                _, hi, _ = cond.bounds(period)
            except ValueError:
                continue
            if hi is None or isinstance(hi, bool):
                continue
            if cond.variable == "ecal_e":
                ecal_max = float(hi)
            elif cond.variable == "hcal_e":
                hcal_max = float(hi)
    return ecal_max, hcal_max


def _periods(output: Mapping[str, Any]) -> list[str]:
    periods: list[str] = list((output.get("cutflow") or {}).keys())
    plane = output.get("plane")
    if plane is not None:
        for p in plane.axes["period"]:
            if p not in periods and plane[{"period": p}].sum() > 0:
                periods.append(p)
    return periods


def _stage_names(output: Mapping[str, Any], cutset: CutSet | None) -> list[str]:
    plane = output.get("plane")
    if plane is not None:
        return list(plane.axes["stage"])
    if cutset is not None:
        return ["all", *cutset.cut_names]
    return ["all"]


def _pre_signal_stage(stages: list[str], signal: Iterable[str]) -> str:
    """The stage after every cut but the trailing signal-region ones (e.g. "veto")."""
    signal = set(signal)
    cuts = [s for s in stages if s != "all"]
    while cuts and cuts[-1] in signal:
        cuts.pop()
    return cuts[-1] if cuts else "all"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


# --------------------------------------------------------------------------------------------
# the (E_ECAL, E_HCAL) plane
# --------------------------------------------------------------------------------------------
def plot_plane(
    plane,
    period: str,
    stage: str,
    path: Path,
    *,
    summary: Mapping[str, Any] | None = None,
    cutset: CutSet | None = None,
    blinded: bool = True,
) -> Path:
    """One (E_ECAL, E_HCAL) plane like paper 002 Fig. 2."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    summary = summary or {}
    h = plane[{"period": period, "stage": stage}]
    values = np.asarray(h.values(), dtype=float)
    xedges, yedges = h.axes[0].edges, h.axes[1].edges
    ecal_max, hcal_max = _box_edges(cutset, period)
    band = hcal_max * BOX_ENLARGE  # drawn height of the E_HCAL < threshold band
    xmax, ymax = float(xedges[-1]), float(yedges[-1])

    with _style():
        fig = _figure((11.0, 8.5))
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

        # E_ECAL + E_HCAL = 100 GeV (labelled in the legend)
        line_x = np.array([0.0, BEAM_ENERGY])
        ax.plot(line_x, BEAM_ENERGY - line_x, color="tab:red", ls="--", lw=1.5)

        # Sidebands A (E_ECAL < box, E_HCAL > thr) and C (E_ECAL > box, E_HCAL < thr)
        side = dict(fill=False, lw=2.0, ls="-", edgecolor="black", zorder=4)
        ax.add_patch(Rectangle((0, band), ecal_max, ymax - band, **side))
        ax.add_patch(Rectangle((ecal_max, 0), xmax - ecal_max, band, **side))
        ax.text(ecal_max - 3, ymax - 4, "A", ha="right", va="top", fontsize=22, weight="bold")
        ax.text(xmax - 3, band / 2, "C", ha="right", va="center", fontsize=20, weight="bold")

        # The signal box, hatched, enlarged along E_HCAL
        ax.add_patch(
            Rectangle(
                (0, 0), ecal_max, band, fill=False, hatch="///", edgecolor="tab:red", lw=2.0,
                zorder=5,
            )
        )  # fmt: skip
        if blinded:
            ax.add_patch(Rectangle((0, 0), ecal_max, band, color="white", alpha=0.7, zorder=4.5))
            ax.text(
                ecal_max / 2, band / 2, "blinded", ha="center", va="center", fontsize=16,
                color="tab:red", weight="bold", zorder=6,
                bbox=dict(facecolor="white", edgecolor="none", pad=1.0),
            )  # fmt: skip

        # Regions I (dimuons), II (hadron electroproduction), III (pile-up)
        reg = dict(fontsize=22, weight="bold", color="black", ha="center", va="center", zorder=6)
        box = dict(boxstyle="circle,pad=0.25", facecolor="white", edgecolor="black", alpha=0.85)
        ax.text(20, 12, "I", bbox=box, **reg)  # dimuons: E_HCAL ~ 10 GeV
        ax.text(30, 55, "II", bbox=box, **reg)  # E_ECAL + E_HCAL ~ 100 GeV
        ax.text(105, 45, "III", bbox=box, **reg)  # E_ECAL + E_HCAL > 100 GeV
        ax.set_xlabel(r"$E_{ECAL}$ [GeV]")
        ax.set_ylabel(r"$E_{HCAL}$ [GeV]")
        handles = [
            Patch(fill=False, hatch="///", edgecolor="tab:red",
                  label=rf"signal box $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$ GeV"),
            Patch(fill=False, edgecolor="none",
                  label=rf"(box and C drawn $\times${BOX_ENLARGE:g} in $E_{{HCAL}}$"
                        " for visibility)"),
            Patch(fill=False, edgecolor="black",
                  label=rf"A: $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}>{hcal_max:g}$;"
                        rf" C: $E_{{ECAL}}>{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$"),
            Line2D([], [], color="tab:red", ls="--", lw=1.5,
                   label=rf"$E_{{ECAL}}+E_{{HCAL}}={BEAM_ENERGY:g}$ GeV"),
            Patch(fill=False, edgecolor="none",
                  label="I: dimuons, II: hadron electroproduction, III: pile-up"),
        ]  # fmt: skip
        ax.legend(handles=handles, loc="upper right", fontsize=11, frameon=True, framealpha=0.9)
        title = "all events" if stage == "all" else f"after the cuts up to {stage}"
        ax.set_title(title, loc="right", fontsize=13, pad=28)
        _label(ax, summary, period)  # last: it draws the figure to place its texts
        written: list[Path] = []
        _save(fig, path, written)
    return path


# --------------------------------------------------------------------------------------------
# the cut flow
# --------------------------------------------------------------------------------------------
def plot_cutflow(
    flow: Mapping[str, Any],
    period: str,
    path: Path,
    *,
    summary: Mapping[str, Any] | None = None,
    cutset: CutSet | None = None,
    blinded: bool = True,
) -> Path:
    """Events after each cumulative cut, log y; blinded (null) entries hatched, no number."""
    summary = summary or {}
    names = list(flow.keys())
    signal = set(_signal_cuts(cutset)) if blinded else set()
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

    with _style():
        fig = _figure((11.0, 8.0))
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
        _label(ax, summary, period)  # last: it draws the figure to place its texts
        fig.tight_layout()
        written: list[Path] = []
        _save(fig, path, written)
    return path


# --------------------------------------------------------------------------------------------
# N-1 distributions
# --------------------------------------------------------------------------------------------
def _cut_intervals(cutset: CutSet | None, cut_name: str, variable: str, period: str):
    """(lines, rejected intervals, accepted intervals) on ``variable`` for one cut and period."""
    lines: list[float] = []
    accepted: list[tuple[float, float]] = [(-math.inf, math.inf)]
    if cutset is None:
        return lines, [], accepted
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


def _other_conditions(
    cutset: CutSet | None, cut_name: str, variable: str, period: str
) -> list[str]:
    """The cut's conditions on other variables than the plotted one, as short text."""
    cut = next((c for c in cutset.cuts if c.name == cut_name), None) if cutset else None
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
    summary: Mapping[str, Any] | None = None,
    cutset: CutSet | None = None,
    blinded: bool = True,
) -> Path:
    """One cut's N-1 distribution with the cut value(s), rejected side shaded."""
    import mplhep
    from matplotlib.patches import Patch

    summary = summary or {}
    hp = h[{"period": period}] if "period" in h.axes.name else h
    axis = hp.axes[0]
    variable = axis.name
    values = np.asarray(hp.values(), dtype=float)
    edges = axis.edges
    xlo, xhi = float(edges[0]), float(edges[-1])
    lines, rejected, accepted = _cut_intervals(cutset, cut_name, variable, period)
    in_signal = cut_name in set(_signal_cuts(cutset))
    discrete = len(values) <= 12

    with _style():
        fig = _figure((10.0, 8.0))
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
            why = " (they are in the blinded region)" if blinded and cutset is not None else ""
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
        ax.set_title(f"N-1: {cut_name}", loc="right", fontsize=13, pad=28)
        _label(ax, summary, period)  # last: it draws the figure to place its texts
        written: list[Path] = []
        _save(fig, path, written)
    return path


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
def make_plots(
    output: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    out_dir: Path,
    cutset: CutSet | None = None,
) -> list[Path]:
    """Write the standard PNGs of one selection output into ``out_dir``; returns their paths.

    ``output`` is the selection processor's accumulator (``plane``, ``nminus1``, ``cutflow``;
    any may be missing); ``summary`` needs ``analysis`` and ``blinding.blinded`` (blinded
    assumed when missing). ``cutset`` gives the cut values and the signal region; without it
    the one serialised in ``summary["cutset"]`` is used, else paper 002's box.
    """
    summary = dict(summary or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cutset = _resolve_cutset(cutset, summary)
    blinded = _is_blinded(summary)
    common = dict(summary=summary, cutset=cutset, blinded=blinded)
    written: list[Path] = []
    periods = _periods(output)

    plane = output.get("plane")
    if plane is not None:
        stages = _stage_names(output, cutset)
        wanted = ["all", _pre_signal_stage(stages, _signal_cuts(cutset))]
        if not blinded:
            wanted.append(stages[-1])
        wanted = [s for i, s in enumerate(wanted) if s in stages and s not in wanted[:i]]
        for period in periods:
            if period not in plane.axes["period"]:
                continue
            for stage in wanted:
                path = out_dir / f"plane_{_safe(period)}_{_safe(stage)}.png"
                written.append(plot_plane(plane, period, stage, path, **common))

    for period, flow in (output.get("cutflow") or {}).items():
        if flow:
            path = out_dir / f"cutflow_{_safe(period)}.png"
            written.append(plot_cutflow(flow, period, path, **common))

    for cut_name, h in (output.get("nminus1") or {}).items():
        for period in periods:
            if "period" in h.axes.name and period not in h.axes["period"]:
                continue
            path = out_dir / f"nminus1_{_safe(cut_name)}_{_safe(period)}.png"
            written.append(plot_nminus1(h, cut_name, period, path, **common))
    return written


def plot_paths(out_dir: Path) -> list[Path]:
    """The plots ``make_plots`` made in ``out_dir`` (sorted: planes, cut flows, N-1)."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    for pattern in PLOT_PATTERNS:
        paths.extend(sorted(out_dir.glob(pattern)))
    return paths


__all__ = ["make_plots", "plot_cutflow", "plot_nminus1", "plot_paths", "plot_plane"]
