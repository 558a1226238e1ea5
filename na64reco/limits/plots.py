"""Limit plots (matplotlib Agg figures, mplhep ROOT style, no pyplot, no network).

* ``limit_<model>.png``: coupling versus mass (log-log), expected median (dashed) with the
  +-1 sigma (green) and +-2 sigma (yellow) bands, the observed limit (solid) once unblinded,
  the g-2 favoured band from ``MODELS[model].g2_band`` (hatched);
* ``delta_a_<model>.png`` (S, P, V, A): the same limits as |Delta a_e| versus mass, like paper 000
  Fig. 4, with the Delta a_e measurements (paper 000 eqs. 1-2) as horizontal bands;
* ``ranking_<model>.png`` (inputs with named nuisances): the impact of each nuisance at +-1 sigma
  on N_up (``na64reco.limits.ranking``) as horizontal bars, one colour per mass, largest first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from na64reco.plots.common import figure as _figure
from na64reco.plots.common import label as _plot_label
from na64reco.plots.common import save as _save
from na64reco.plots.common import style as _style

GREEN, YELLOW = "#00cc00", "#ffcc00"


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


def _bands(ax, x, block: dict, observed, label_obs: str) -> None:
    exp = {k: _arr(v) for k, v in block.items()}
    ax.fill_between(
        x, exp["-2sigma"], exp["+2sigma"], color=YELLOW, lw=0, label=r"expected $\pm 2\sigma$"
    )
    ax.fill_between(
        x, exp["-1sigma"], exp["+1sigma"], color=GREEN, lw=0, label=r"expected $\pm 1\sigma$"
    )
    ax.plot(x, exp["median"], "k--", lw=1.5, label="expected (median)")
    if observed is not None:
        ax.plot(x, _arr(observed), "k-", lw=2.5, label=label_obs)


def _label(ax, result: dict) -> None:
    """The experiment label and the inputs' title (placed without drawing: plots.common), and
    room on the left for the coupling's tick labels and axis label."""
    ax.figure.subplots_adjust(left=0.16, right=0.96)
    title = result.get("title", "")
    ours = title.startswith("na64reco")  # inputs made by the chain from simulated samples
    _plot_label(ax, {}, "", title, status="Simulation" if ours else "")


def plot_coupling(result: dict[str, Any], path: str | Path) -> Path:
    """Coupling vs mass with the expected bands, observed limit and the g-2 band."""
    x = np.asarray(result["masses_gev"], float)
    with _style():
        fig = _figure()
        ax = fig.subplots()
        band = result.get("g2_band")
        if band:
            lo, hi = _arr(band[0]), _arr(band[1])
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.fill_between(
                    x[ok],
                    lo[ok],
                    hi[ok],
                    facecolor="none",
                    edgecolor="tab:red",
                    hatch="///",
                    lw=1,
                    label="g-2 favoured",
                )
        _bands(
            ax,
            x,
            result["coupling"]["expected"],
            result["coupling"]["observed"],
            f"observed {round(result['cl'] * 100)}% CL",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$m_X$ [GeV]")
        ax.set_ylabel(result.get("coupling_label") or "coupling")
        ax.legend(loc="upper left", fontsize=13)
        _label(ax, result)
        path = Path(path)
        _save(fig, Path(path))
    return path


def plot_delta_a(result: dict[str, Any], path: str | Path) -> Path | None:
    """|Delta a_e| vs mass (paper 000 Fig. 4) for S, P, V, A; None for other models."""
    if "delta_a" not in result:
        return None
    from na64reco.limits import g2
    from na64reco.limits.scan import get_signal_model

    sig = get_signal_model(result["model"])
    x = np.asarray(result["masses_gev"], float)

    def to_da(block):
        return [
            abs(float(sig.delta_a(c, m))) if c is not None else None
            for c, m in zip(block, x, strict=True)
        ]

    exp = {k: to_da(v) for k, v in result["coupling"]["expected"].items()}
    obs = to_da(result["coupling"]["observed"]) if result["coupling"]["observed"] else None
    with _style():
        fig = _figure()
        ax = fig.subplots()
        for (central, sigma), name, color in (
            (g2.DELTA_A_E_LKB, r"$\Delta a_e$ (Rb, eq. 1)", "tab:blue"),
            (g2.DELTA_A_E_BERKELEY, r"$|\Delta a_e|$ (Cs, eq. 2)", "tab:red"),
        ):
            lo, hi = abs(central) - sigma, abs(central) + sigma
            ax.axhspan(max(lo, 1e-30), hi, color=color, alpha=0.25, label=name)
        _bands(ax, x, exp, obs, f"observed {round(result['cl'] * 100)}% CL")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$m_X$ [GeV]")
        ax.set_ylabel(r"$|\Delta a_e|$ excluded above")
        ax.legend(loc="upper left", fontsize=13)
        _label(ax, result)
        path = Path(path)
        _save(fig, Path(path))
    return path


MAX_RANKED = 15  # nuisances shown in the ranking plot (the largest impacts)


def plot_ranking(result: dict[str, Any], path: str | Path) -> Path | None:
    """Impacts of the named nuisances on N_up at +1 sigma (filled) and -1 sigma (open), in %,
    at each mass of ``result["ranking"]``; None without a ranking."""
    rank = result.get("ranking")
    if not rank or not rank["impacts"]:
        return None
    rows = rank["impacts"][:MAX_RANKED][::-1]  # largest on top
    masses = rank["masses_gev"]
    y = np.arange(len(rows), dtype=float)
    height = 0.8 / len(masses)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    with _style():
        fig = _figure((12.0, max(5.0, 2.0 + 0.45 * len(rows) * max(1.0, len(masses) / 2))))
        ax = fig.subplots()
        for j, m in enumerate(masses):
            off = y - 0.4 + (j + 0.5) * height
            c = colours[j % len(colours)]
            up = [100 * r["up"][j] for r in rows]
            down = [100 * r["down"][j] for r in rows]
            ax.barh(off, up, height, color=c, label=rf"{m * 1e3:.4g} MeV: $+1\sigma$")
            ax.barh(off, down, height, fill=False, edgecolor=c, hatch="//", lw=1.2,
                    label=rf"{m * 1e3:.4g} MeV: $-1\sigma$")  # fmt: skip
        ax.axvline(0.0, color="k", lw=1)
        ax.set_yticks(y, [r["name"] for r in rows])
        ax.set_xlabel(f"impact on {rank['quantity']} [%]")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.subplots_adjust(left=0.22, right=0.7, bottom=0.22)
        _plot_label(ax, {}, "", result.get("title", ""), status="")
        _save(fig, Path(path))
    return Path(path)


def limit_plot_jobs(result: dict[str, Any], out_dir: str | Path) -> list:
    """The ``(function, args, kwargs)`` of each plot of ``make_limit_plots`` (for
    ``na64reco.plots.parallel.render``); each returns its path, or None when it does not apply."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = result["model"]
    return [
        (plot_coupling, (result, out_dir / f"limit_{model}.png"), {}),
        (plot_delta_a, (result, out_dir / f"delta_a_{model}.png"), {}),
        (plot_ranking, (result, out_dir / f"ranking_{model}.png"), {}),
    ]


def make_limit_plots(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write limit_<model>.png (and delta_a_<model>.png for S, P, V, A, ranking_<model>.png
    with named nuisances) into out_dir."""
    made = (func(*args, **kwargs) for func, args, kwargs in limit_plot_jobs(result, out_dir))
    return [path for path in made if path is not None]


__all__ = ["limit_plot_jobs", "make_limit_plots", "plot_coupling", "plot_delta_a", "plot_ranking"]
