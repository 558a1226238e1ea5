"""Sideband extrapolation of the box background (papers 000, 001).

Events passing every cut but the signal-region ones, with E_HCAL below the zero threshold
(``hcal_e < 1 GeV``) and E_ECAL above the box, are fitted with an unbinned *extended*
maximum-likelihood fit (iminuit) in a range above the box; the fitted model is integrated into
the box (``box_lo``-``box_hi`` GeV).

* Nominal model: an exponential ``exp(b E)`` (paper 001) on ``[box_hi, E_th - 3 sigma(E_th)]``
  (``default_fit_range``): E_th is the period's trigger threshold (80 GeV in 2016-2018, 90 GeV
  in 2021-2022) and sigma(E_th) the ECAL resolution there (conditions): 75.5 and 85.0 GeV.
  Within a few resolutions of the threshold the recorded sideband is not the upstream spectrum
  the fit extrapolates (trigger turn-on, full-energy showers of the resolution tail).
* Statistical uncertainty: the fit covariance of (nu, shape parameters) propagated to the box
  integral with the numerical gradient (delta method).
* Systematic uncertainty: the same extrapolation with alternative functions (exponential,
  exponential + constant, power law in the missing energy (E0 - E)^-a) and fit ranges (the
  lower edge moved up by 5 GeV, the upper edge down by 5 GeV). As NA64 does, the spread between
  the smallest and largest box integral is reported (``low``, ``high``); ``syst`` is half of it.
  It is kept apart from ``stat``. A variation enters the spread only if it converged and the
  sideband does not disfavour it against the exponential on the same range (2 delta NLL < 4);
  the left-out ones are listed (``disfavoured``).
* A nominal fit that does not converge raises ``SidebandFitError`` (an NA64Error naming the
  source and period): never silently replaced. An alternative fit that does not converge is
  listed with ``converged: false`` and left out of the spread (its label is in ``failed``).
* Fewer than ``MIN_EVENTS`` sideband events in the fit range (including zero): no fit; the
  result is ``kind = "upper_bound"``: ``expected = 0`` and ``upper_90`` = the 90% CL Poisson
  upper limit on the sideband count (2.30 for zero events) times the box/sideband ratio of a
  *flat* E_ECAL distribution, which is conservative for the rising spectra seen here (the
  background falls towards low E_ECAL); ``stat`` is then set to ``upper_90`` so that a limit
  treats it as an uncertainty.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from iminuit import Minuit
from scipy import integrate, stats

from na64reco.conditions.periods import BEAM_ENERGY_GEV, PERIODS
from na64reco.conditions.response import RESPONSE, Response
from na64reco.errors import SidebandFitError

MIN_EVENTS = 5
# Alternative shapes (exponential + constant, power law) enter the systematic spread only with
# at least this many sideband events [choose]: below, their extra parameter is unconstrained.
MIN_EVENTS_ALTERNATIVES = 30
RANGE_SHIFT_GEV = 5.0
DISFAVOURED = 4.0  # 2 delta NLL: a variation worse than the exponential by > 2 sigma is left out
# Upper edge of the sideband fit: the trigger threshold less FIT_EDGE_SIGMAS resolutions at the
# threshold [choose 3], see ``default_fit_range``; from the run-period conditions.
FIT_EDGE_SIGMAS = 3.0
FIT_RANGE_RULE = (
    f"box edge to E_th - {FIT_EDGE_SIGMAS:g} sigma_E(E_th) (trigger threshold less "
    f"{FIT_EDGE_SIGMAS:g} ECAL resolutions there: trigger turn-on and full-energy tail stay out; "
    "default_fit_range)"
)


def fit_upper_edge(trigger_max: float, resp: Response = RESPONSE) -> float:
    """E_th - FIT_EDGE_SIGMAS x sigma_E(E_th), sigma_E/E = a / sqrt(E) (+) c of the ECAL."""
    sigma = trigger_max * np.hypot(resp.ecal_stochastic / np.sqrt(trigger_max), resp.ecal_constant)
    return float(trigger_max - FIT_EDGE_SIGMAS * sigma)


# The largest upper edge of any period (kept for callers that quote a single number)
FIT_MAX_GEV = max(fit_upper_edge(p.trigger.ecal_max_gev) for p in PERIODS.values())


@dataclass(frozen=True)
class Model:
    """A non-negative shape s(E; theta) on the fit range (normalised numerically)."""

    name: str
    params: tuple[str, ...]
    start: Callable[[np.ndarray, float, float], tuple[float, ...]]
    shape: Callable[..., np.ndarray]
    limits: tuple[tuple[float | None, float | None], ...]


def _exp_shape(e, b):
    return np.exp(b * (e - 80.0))  # pivot at 80 GeV: well-conditioned slope


def _exp_const_shape(e, b, c):
    return np.exp(b * (e - 80.0)) + c


def _power_shape(e, a):
    return np.power(np.clip(BEAM_ENERGY_GEV - e, 1e-3, None) / 20.0, -a)


def _slope_start(e, lo, hi):
    mean = float(np.mean(e)) if len(e) else 0.5 * (lo + hi)
    width = hi - lo
    x = (mean - lo) / width  # 0.5 for flat, -> 1 for steep rising
    x = min(max(x, 0.05), 0.95)
    return (6.0 * (x - 0.5) / width * 2.0,)


MODELS: dict[str, Model] = {
    "exp": Model("exp", ("b",), _slope_start, _exp_shape, ((-2.0, 2.0),)),
    "exp+const": Model(
        "exp+const",
        ("b", "c"),
        lambda e, lo, hi: (*_slope_start(e, lo, hi), 0.01),
        _exp_const_shape,
        ((-2.0, 2.0), (0.0, 10.0)),
    ),
    "power": Model("power", ("a",), lambda e, lo, hi: (2.0,), _power_shape, ((-10.0, 30.0),)),
}


def _integral(model: Model, theta, lo: float, hi: float) -> float:
    if model.name == "exp":
        (b,) = theta
        if abs(b) < 1e-9:
            return hi - lo
        return float((np.exp(b * (hi - 80.0)) - np.exp(b * (lo - 80.0))) / b)
    if model.name == "exp+const":
        b, c = theta
        return _integral(MODELS["exp"], (b,), lo, hi) + c * (hi - lo)
    return float(integrate.quad(lambda x: float(model.shape(np.array(x), *theta)), lo, hi)[0])


@dataclass
class FitResult:
    model: str
    fit_range: tuple[float, float]
    n_events: int
    converged: bool
    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    box: float = float("nan")
    box_stat: float = float("nan")
    nll: float = float("nan")
    message: str = ""

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "fit_range_gev": list(self.fit_range),
            "n_events": self.n_events,
            "converged": self.converged,
            "parameters": self.values,
            "errors": self.errors,
            "box": self.box,
            "box_stat": self.box_stat,
            "nll": self.nll,
            "message": self.message,
        }


def fit_sideband(
    ecal: np.ndarray, model: str, fit_range: tuple[float, float], box: tuple[float, float]
) -> FitResult:
    """Extended unbinned ML fit of one model on ``fit_range``; box integral and its stat error."""
    m_def = MODELS[model]
    lo, hi = fit_range
    e = np.asarray(ecal, dtype=float)
    e = e[(e >= lo) & (e < hi)]
    n = len(e)
    res = FitResult(model, (lo, hi), n, False)
    if n == 0:
        res.message = "no events in the fit range"
        return res

    def nll(nu, *theta):
        norm = _integral(m_def, theta, lo, hi)
        if not norm > 0 or nu <= 0:
            return 1e30
        dens = m_def.shape(e, *theta) / norm
        if np.any(dens <= 0):
            return 1e30
        return float(nu - np.sum(np.log(nu * dens)))

    names = ("nu", *m_def.params)
    start = (float(n), *m_def.start(e, lo, hi))
    m = Minuit(nll, *start, name=names)
    m.errordef = Minuit.LIKELIHOOD
    m.limits["nu"] = (1e-9, None)
    for p, lim in zip(m_def.params, m_def.limits, strict=True):
        m.limits[p] = lim
    try:
        m.migrad()
        if m.valid:
            m.hesse()
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        res.message = f"minimiser failed: {exc}"
        return res
    at_limit = [
        p
        for p, lim in zip(m_def.params, m_def.limits, strict=True)
        if any(b is not None and abs(m.values[p] - b) < 1e-6 for b in lim)
        and not (model == "exp+const" and p == "c")  # c = 0 is the exponential, a valid point
    ]
    res.values = {p: float(m.values[p]) for p in names}
    res.errors = {p: float(m.errors[p]) for p in names}
    if not (m.valid and m.accurate) or at_limit:
        why = "invalid minimum" if not m.valid else "inaccurate covariance"
        if at_limit:
            why = f"parameter(s) at limit: {', '.join(at_limit)}"
        res.message = f"not converged ({why}; edm={m.fmin.edm:.2g})"
        return res

    def box_of(par):
        nu, *theta = par
        return nu * _integral(m_def, theta, *box) / _integral(m_def, theta, lo, hi)

    par = np.array([m.values[p] for p in names])
    value = box_of(par)
    grad = np.zeros(len(par))
    for i in range(len(par)):
        h = 1e-4 * max(abs(par[i]), 1e-3)
        up, dn = par.copy(), par.copy()
        up[i] += h
        dn[i] -= h
        grad[i] = (box_of(up) - box_of(dn)) / (2 * h)
    cov = np.array(m.covariance)
    res.converged = True
    res.nll = float(m.fval)
    res.box = float(value)
    res.box_stat = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    res.message = "ok"
    return res


def default_fit_range(box_hi: float, trigger_max: float) -> tuple[float, float]:
    """From the box edge to ``fit_upper_edge(trigger_max)``: the sideband fit range.

    What is extrapolated is the upstream-interaction background: degraded electrons with
    E_HCAL ~ 0 and an E_ECAL spectrum falling towards the box (papers 000, 001, detector.md),
    taken from the sideband "E_ECAL > 50 GeV; E_HCAL < 1 GeV" (paper 000). Near the trigger
    threshold E_th (80 GeV 2016-2018, 90 GeV 2021-2022) the recorded sideband is something else:

    * the trigger turn-on: the hardware sums the analogue signal (noise ~0.4 GeV), the
      reconstruction measures it with its calibration and zero suppression, so the acceptance
      in the reconstructed E_ECAL is not a step at E_th;
    * full-energy showers: the resolution tail of 100 GeV electrons fires the trigger and
      piles up just below E_th (2021-2022: a Gaussian of sigma ~2 GeV from the 100 GeV peak; in
      the simulated clean sideband of the 2022 exposure ~5000 events/GeV at 87-88 GeV, ~250 at
      86-87 GeV and none below 86 GeV in a 1.2e10 EOT sample, tests/test_sim_sideband.py).

    Both scale with the ECAL resolution at the threshold, so the range ends FIT_EDGE_SIGMAS = 3
    resolutions below it: 80 - 3 x 1.50 = 75.5 GeV (2016-2018), 90 - 3 x 1.65 = 85.0 GeV
    (2021-2022). The range variation (upper edge - 5 GeV, ``RANGE_SHIFT_GEV``) probes the
    dependence on that choice.
    """
    return (float(box_hi), fit_upper_edge(trigger_max))


def poisson_upper(n: int, cl: float = 0.9) -> float:
    """Classical upper limit on a Poisson mean for ``n`` observed events (2.30 for n = 0)."""
    return float(stats.chi2.ppf(cl, 2 * (n + 1)) / 2)


def sideband_estimate(
    ecal: np.ndarray,
    box: tuple[float, float],
    fit_range: tuple[float, float],
    *,
    source: str = "sideband",
    models: tuple[str, ...] = ("exp", "exp+const", "power"),
    range_shift: float = RANGE_SHIFT_GEV,
    variations: bool = True,
) -> dict:
    """The sideband estimate of one period: nominal exponential, stat and syst parts.

    ``ecal``: E_ECAL of the sideband events (E_HCAL < 1 GeV already applied).
    """
    lo, hi = fit_range
    e = np.asarray(ecal, dtype=float)
    n_fit = int(np.count_nonzero((e >= lo) & (e < hi)))
    base = {
        "method": "sideband-fit",
        "box_gev": list(box),
        "fit_range_gev": [lo, hi],
        "n_sideband": n_fit,
        "nominal_model": "exp",
    }
    if n_fit < MIN_EVENTS:
        ratio = (box[1] - box[0]) / (hi - lo)
        up = poisson_upper(n_fit) * ratio
        return {
            **base,
            "kind": "upper_bound",
            "expected": 0.0,
            "stat": up,
            "syst": 0.0,
            "upper_90": up,
            "note": (
                f"{n_fit} sideband event(s) (< {MIN_EVENTS}): no fit; 90% CL Poisson upper "
                f"limit {poisson_upper(n_fit):.2f} x flat box/sideband ratio {ratio:.3f}"
            ),
            "fits": [],
            "failed": [],
        }
    nominal = fit_sideband(e, "exp", fit_range, box)
    if not nominal.converged:
        raise SidebandFitError(
            f"{source}: nominal exponential sideband fit on {lo:g}-{hi:g} GeV "
            f"({n_fit} events) {nominal.message}"
        )
    fits = [nominal]
    if n_fit < MIN_EVENTS_ALTERNATIVES:
        # too few events to constrain a second shape parameter: such fits swing over orders of
        # magnitude and would make the spread meaningless; the systematic then comes from the
        # fit-range variations of the exponential only (and the note says so)
        models = tuple(m for m in models if m == "exp")
    if variations:
        ranges = [(lo, hi), (lo + range_shift, hi), (lo, hi - range_shift)]
        for model in models:
            for r in ranges:
                if model == "exp" and r == (lo, hi):
                    continue
                fits.append(fit_sideband(e, model, r, box))
    # a variation enters the spread if it converged and the sideband itself does not disfavour
    # it: 2 x (NLL - NLL of the exponential on the same range) < DISFAVOURED (models with the
    # same number of parameters or fewer; a nested model with more parameters is never worse)
    ref = {f.fit_range: f.nll for f in fits if f.converged and f.model == "exp"}
    rejected = []
    good = []
    for f in fits:
        if not f.converged:
            continue
        if f.fit_range in ref and 2 * (f.nll - ref[f.fit_range]) > DISFAVOURED:
            rejected.append(f"{f.model} {f.fit_range[0]:g}-{f.fit_range[1]:g}")
            continue
        good.append(f)
    values = [f.box for f in good]
    low, high = min(values), max(values)
    return {
        **base,
        "kind": "fit",
        "expected": nominal.box,
        "stat": nominal.box_stat,
        # the box integral is ~ exp(slope x distance): log-normal; asymmetric errors from the
        # relative error s = stat / box: +box (e^s - 1), -box (1 - e^-s)
        "stat_up": nominal.box * float(np.expm1(nominal.box_stat / nominal.box)),
        "stat_down": nominal.box * float(-np.expm1(-nominal.box_stat / nominal.box)),
        "syst": 0.5 * (high - low),
        "low": low,
        "high": high,
        "fits": [f.as_dict() for f in fits],
        "failed": [
            f"{f.model} {f.fit_range[0]:g}-{f.fit_range[1]:g}" for f in fits if not f.converged
        ],
        "disfavoured": rejected,
        "note": (
            f"{n_fit} sideband events (< {MIN_EVENTS_ALTERNATIVES}): systematic from the "
            "exponential's fit-range variations only"
            if n_fit < MIN_EVENTS_ALTERNATIVES
            else ""
        ),
    }


def plot_sideband(result: dict, ecal: np.ndarray, path, title: str = "") -> None:
    """The sideband E_ECAL histogram, every converged fit extrapolated, the box shaded."""
    import mplhep

    from na64reco.plots.common import figure, save

    _, hi = result["fit_range_gev"]
    box = result["box_gev"]
    # the histogram goes on to the trigger threshold (the part above the fit range is shown)
    top = max(hi, float(result.get("trigger_max_gev") or hi))
    edges = np.arange(0.0, top + 2.0, 2.0)
    counts, _ = np.histogram(ecal, bins=edges)
    fig = figure((7, 5))
    ax = fig.add_subplot()
    mplhep.histplot(
        counts,
        edges,
        ax=ax,
        histtype="errorbar",
        yerr=np.sqrt(counts),
        label="sideband (E_HCAL below the box edge)",
        color="k",
    )
    x = np.linspace(0.5, hi, 400)
    for fit in result.get("fits", []):
        if not fit["converged"]:
            continue
        m = MODELS[fit["model"]]
        theta = [fit["parameters"][p] for p in m.params]
        flo, fhi = fit["fit_range_gev"]
        y = fit["parameters"]["nu"] * m.shape(x, *theta) / _integral(m, theta, flo, fhi) * 2.0
        nominal = fit is result["fits"][0]
        ax.plot(
            x,
            y,
            lw=2 if nominal else 0.8,
            alpha=1 if nominal else 0.5,
            label=f"{fit['model']} {flo:g}-{fhi:g}" if nominal else None,
        )
    ax.axvspan(box[0], box[1], color="tab:red", alpha=0.15, label=f"signal box < {box[1]:g} GeV")
    if top > hi:
        ax.axvspan(hi, top, color="tab:gray", alpha=0.15, label="not fitted (full-energy tail)")
    with warnings.catch_warnings():  # an empty sideband has nothing positive to log-scale
        warnings.simplefilter("ignore", UserWarning)
        ax.set_yscale("log")
    ax.set_ylim(1e-3, max(10.0, counts.max() * 5))
    ax.set_xlabel("E_ECAL [GeV]")
    ax.set_ylabel("events / 2 GeV")
    txt = (
        f"box: {result['expected']:.3g} +- {result['stat']:.2g} (stat) "
        f"+- {result['syst']:.2g} (syst)"
        if result["kind"] == "fit"
        else f"box < {result['upper_90']:.3g} (90% CL)"
    )
    ax.set_title(f"{title} {txt}".strip(), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, Path(path))


__all__ = [
    "FIT_EDGE_SIGMAS",
    "FIT_MAX_GEV",
    "FIT_RANGE_RULE",
    "MODELS",
    "FitResult",
    "SidebandFitError",
    "default_fit_range",
    "fit_sideband",
    "fit_upper_edge",
    "plot_sideband",
    "poisson_upper",
    "sideband_estimate",
]
