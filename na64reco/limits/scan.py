"""Mass scans: 90% CL CLs limits on a model's coupling versus mass from a ``limit_inputs.json``.

For each mass: the efficiency of every period is interpolated in log(mass) from its
EfficiencyTable (ValueError naming the model, the mass and the table's range outside it); the
signal yield per EOT of each period, Y_i (limits.yields: paper 003 eqs. 11 and 15), is computed
for that period's beam energy (``PeriodInputs.beam_energy_gev``, else the run conditions of the
period, ``na64reco.conditions``), box edge (``box.ecal_max_gev``) and eta_down(E_F) (the table's
``eta_down`` if given, else the resolution model of limits.downstream); the expected signal is
``mu sum_i EOT_i eff_i Y_i`` with period shares ``EOT_i eff_i Y_i`` (paper 000 eq. 11). The limit
on the total number of signal events ``N_up`` (model independent, ``na64reco.limits.statistics``)
is turned into a coupling by ``coupling_from_signal_limit(N_up, [(EOT_i eff_i, period_i)], m)``.
``N_up`` depends only on the configuration (shares, backgrounds, uncertainties, observed counts),
so it is computed once per configuration (cached) and reused for all masses and models.

The g-2 band uses the inputs' own measurement where given (provenance ``delta_a_mu`` /
``delta_a_e`` = [central, sigma], ``g2_band_n_sigma``): each paper compares with the anomaly it
quotes.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import Any

import numpy as np

from na64reco.limit_inputs import LimitInputs
from na64reco.limits import statistics as st
from na64reco.limits.downstream import Downstream, downstream_from_table
from na64reco.limits.nuisances import model_nuisances, nuisance_names
from na64reco.limits.yields import CROSS_SECTIONS

DEFAULT_N_MASSES = 50
SPV_A = ("scalar", "pseudoscalar", "vector", "axial")


def resolve_cross_section(cross_section: str | None = None, k_factor: bool | None = None) -> str:
    """The emission spectra to use: ``cross_section`` ('etl', 'iww', 'iww-k'), or from the former
    ``k_factor`` switch (True: the exact-tree-level correction, now exact = 'etl'; False: pure IWW
    as paper 002 = 'iww'). Default 'etl'."""
    if cross_section is None:
        return "iww" if k_factor is False else "etl"
    if cross_section not in CROSS_SECTIONS:
        raise ValueError(f"cross_section must be one of {CROSS_SECTIONS}, not {cross_section!r}")
    if k_factor is False and cross_section != "iww":
        raise ValueError(f"k_factor=False means cross_section='iww', not {cross_section!r}")
    return cross_section


def period_beam_energy(period) -> float:
    """Beam energy [GeV] of a PeriodInputs: its own field, else the run conditions of its name
    (a year, or a range 'YYYY-YYYY' whose conditions must agree)."""
    if period.beam_energy_gev is not None:
        return float(period.beam_energy_gev)
    from na64reco.conditions import PERIODS

    name = str(period.period)
    m = re.fullmatch(r"(\d{4})-(\d{4})", name)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        names = [k for k in PERIODS if k.isdigit() and lo <= int(k) <= hi]
    else:
        names = [name] if name in PERIODS else []
    energies = {PERIODS[k].beam_energy_gev for k in names}
    if len(energies) != 1:
        raise ValueError(
            f"period {name!r}: no beam_energy_gev in the limit inputs and "
            + ("no run conditions for it" if not energies else f"conditions disagree: {energies}")
            + f" (known periods: {', '.join(PERIODS)})"
        )
    return float(energies.pop())


def get_signal_model(
    model: str,
    alpha_d: float | None = None,
    mass_ratio: float | None = None,
    k_factor: bool | None = None,
    cross_section: str | None = None,
):
    """MODELS[model], with alpha_D and m_X/m_chi overridden where given (dark Z', A') and the
    emission spectra of ``resolve_cross_section(cross_section, k_factor)``."""
    from na64reco.limits.models import MODELS

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    obj = MODELS[model]
    changes: dict[str, Any] = {"cross_section": resolve_cross_section(cross_section, k_factor)}
    if alpha_d is not None:
        changes["alpha_d"] = float(alpha_d)
    if mass_ratio is not None:
        changes["mass_ratio"] = float(mass_ratio)
    return dataclasses.replace(obj, **changes)


def period_downstreams(inputs: LimitInputs, model: str) -> list[Downstream]:
    """The Downstream (beam energy, box edge, eta_down) of every period for ``model``."""
    out = []
    for p in inputs.periods:
        table = _table(p, model)
        out.append(
            downstream_from_table(
                period_beam_energy(p),
                p.box.ecal_max_gev,
                table.eta_down,
                where=f"period {p.period!r}, model {model!r}: ",
            )
        )
    return out


def _table(period, model: str):
    for t in period.efficiencies:
        if t.model == model:
            return t
    known = sorted({t.model for t in period.efficiencies})
    raise ValueError(
        f"period {period.period!r} has no efficiency table for model {model!r} (has: {known})"
    )


def efficiency_at(table, mass_gev: float, model: str | None = None) -> tuple[float, float, float]:
    """(efficiency, stat, syst) at ``mass_gev``, linear in log(mass) between the table's points.
    Outside the table's mass range: ValueError naming the model, the mass and the range."""
    m = np.asarray(table.masses_gev, float)
    lo, hi = float(m[0]), float(m[-1])
    if not (mass_gev > 0 and lo * (1 - 1e-9) <= mass_gev <= hi * (1 + 1e-9)):
        raise ValueError(
            f"model {model or table.model!r}: mass {mass_gev:g} GeV outside the efficiency "
            f"table's range [{lo:g}, {hi:g}] GeV"
        )
    if m.size == 1:
        return float(table.efficiency[0]), float(table.stat[0]), float(table.syst[0])
    x = np.log(m)
    lm = math.log(min(max(mass_gev, lo), hi))
    return tuple(
        float(np.interp(lm, x, np.asarray(v, float)))
        for v in (table.efficiency, table.stat, table.syst)
    )


def default_masses(inputs: LimitInputs, model: str, n: int = DEFAULT_N_MASSES) -> np.ndarray:
    """``n`` log-spaced masses over the overlap of the model's range and the tables' ranges."""
    lo, hi = get_signal_model(model).mass_range_gev
    for p in inputs.periods:
        t = _table(p, model)
        lo, hi = max(lo, t.masses_gev[0]), min(hi, t.masses_gev[-1])
    if not lo < hi:
        raise ValueError(
            f"model {model!r}: the efficiency tables and the model's range do not overlap"
        )
    return np.geomspace(lo, hi, n) if n > 1 else np.array([lo])


def parse_masses(text: str | None = None, grid: str | None = None) -> np.ndarray | None:
    """``"0.001,0.002"`` or a grid ``"lo:hi:n"`` (log-spaced) to masses in GeV."""
    if text and grid:
        raise ValueError("give either a mass list or a mass grid, not both")
    if text:
        return np.array([float(v) for v in text.split(",") if v.strip()])
    if grid:
        parts = grid.split(":")
        if len(parts) != 3:
            raise ValueError(f"mass grid {grid!r}: expected lo:hi:n")
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        if not 0 < lo < hi or n < 1:
            raise ValueError(f"mass grid {grid!r}: need 0 < lo < hi and n >= 1")
        return np.geomspace(lo, hi, n)
    return None


def counting_model(
    inputs: LimitInputs,
    model: str,
    mass_gev: float,
    *,
    signal_corr_unc: float = 0.0,
    background_constraint: str = "gamma",
    yield_weights=None,
) -> tuple[st.CountingModel, float, list[dict]]:
    """The CountingModel of one mass (with the named nuisances of limit inputs v2), the effective
    exposure sum_i EOT_i eff_i (w_i) and the per-period numbers."""
    shares, sig_unc, rows = [], [], []
    eot_eff = 0.0
    for i, p in enumerate(inputs.periods):
        eff, es, ey = efficiency_at(_table(p, model), mass_gev, model)
        w = 1.0 if yield_weights is None else float(yield_weights[i])
        expo = p.eot.value * eff * w
        eot_eff += expo
        shares.append(expo)
        rel = 0.0
        if eff > 0:
            rel += (es**2 + ey**2) / eff**2
        if p.eot.value > 0:
            rel += (p.eot.stat**2 + p.eot.syst**2) / p.eot.value**2
        sig_unc.append(math.sqrt(rel))
        rows.append(
            {
                "period": p.period,
                "eot": p.eot.value,
                "efficiency": eff,
                "efficiency_stat": es,
                "efficiency_syst": ey,
                "eot_eff": expo,
            }
        )
    if eot_eff <= 0:
        raise ValueError(f"model {model!r}: zero signal efficiency at {mass_gev:g} GeV")
    cm = st.CountingModel(
        tuple(shares),
        tuple(p.background.expected for p in inputs.periods),
        tuple(math.hypot(p.background.stat, p.background.syst) for p in inputs.periods),
        tuple(sig_unc),
        signal_corr_unc,
        background_constraint,
        tuple(p.period for p in inputs.periods),
        model_nuisances(inputs, model, mass_gev),
    )
    return cm, eot_eff, rows


def _yield_weights(sig, mass: float, downstreams: list[Downstream]) -> list[float] | None:
    """Y_i / Y_0 per period (None when every period is the same)."""
    if all(d == downstreams[0] for d in downstreams):
        return None
    ys = [float(sig.unit_yield(mass, d)) for d in downstreams]
    if ys[0] <= 0:
        return None
    return [y / ys[0] for y in ys]


def _measurement(inputs: LimitInputs, model: str):
    key = "delta_a_e" if model in SPV_A else "delta_a_mu"
    val = inputs.provenance.get(key)
    if val is None:
        return None
    if isinstance(val, dict):
        val = (val["value"], val["sigma"])
    central, sigma = (float(v) for v in val)
    return central, sigma


def scan(
    inputs: LimitInputs,
    model: str,
    masses_gev=None,
    *,
    method: str = "auto",
    cl: float = st.CL,
    ntoys: int = st.DEFAULT_TOYS,
    seed: int = st.DEFAULT_SEED,
    signal_corr_unc: float = 0.0,
    background_constraint: str = "gamma",
    alpha_d: float | None = None,
    mass_ratio: float | None = None,
    k_factor: bool | None = None,
    cross_section: str | None = None,
    round_config: bool = True,
    configs: list | None = None,
) -> dict[str, Any]:
    """Expected (and, once unblinded, observed) 90% CL limits on the coupling of ``model``.

    ``cross_section``: 'etl' (default, exact tree level), 'iww' (paper 002's treatment) or
    'iww-k' (IWW / former K-factor); ``k_factor`` is the former switch (True = 'etl',
    False = 'iww'), kept for callers that pass it.

    Returns a JSON-ready dict: ``masses_gev``; ``n_up`` (limits on the number of signal events:
    ``expected`` band per key of statistics.BAND_KEYS and ``observed``, per mass); ``coupling``
    (same layout, the couplings); ``eot_eff`` (sum_i EOT_i eff_i); ``efficiency`` per period;
    ``g2_band`` (lo, hi coupling explaining the g-2 anomaly, NaN -> None); for S, P, V, A
    ``delta_a`` (|Delta a_e| at the expected median and observed limits); ``settings``, which
    also records the cross section, beam energies, box edges, the eta_down source per period,
    the g-2 measurement (``g2_measurement``) and the first period's Y at unit coupling
    (``unit_yield_per_eot``). ``configs``, when a list, receives per mass the (unrounded)
    counting model, the observed counts, N_up and sum EOT eff (for the pyhf workspaces).
    """
    t0 = time.perf_counter()
    sig = get_signal_model(model, alpha_d, mass_ratio, k_factor, cross_section)
    masses = (
        default_masses(inputs, model)
        if masses_gev is None
        else np.atleast_1d(np.asarray(masses_gev, float))
    )
    sig.check_mass(masses)
    downstreams = period_downstreams(inputs, model)
    observed = None if inputs.blinded else tuple(int(p.observed) for p in inputs.periods)
    keys = st.BAND_KEYS
    nup = {"expected": {k: [] for k in keys}, "observed": [] if observed else None}
    eot_effs, per_period, methods, exposures, unit = [], [], set(), [], []
    for m in masses:
        m = float(m)
        weights = _yield_weights(sig, m, downstreams)
        cm, _, rows = counting_model(
            inputs,
            model,
            m,
            signal_corr_unc=signal_corr_unc,
            background_constraint=background_constraint,
            yield_weights=weights,
        )
        exact_cm = cm
        if round_config:
            cm = cm.rounded()
        summ = st.limit_summary(cm, observed, method, cl, ntoys, seed)
        if configs is not None:
            configs.append(
                {
                    "mass_gev": m,
                    "counting_model": exact_cm,
                    "observed": observed,
                    "n_up": {"expected": summ["expected"], "observed": summ["observed"]},
                    "eot_eff": sum(r["eot"] * r["efficiency"] for r in rows),
                }
            )
        methods.add(summ["method"])
        for k in keys:
            nup["expected"][k].append(summ["expected"][k])
        if observed:
            nup["observed"].append(summ["observed"])
        exposures.append(
            [
                (r["eot"] * r["efficiency"], d)
                for r, d in zip(rows, downstreams, strict=True)
                if r["efficiency"] > 0
            ]
        )
        eot_effs.append(sum(r["eot"] * r["efficiency"] for r in rows))
        unit.append(float(sig.unit_yield(m, downstreams[0])))
        per_period.append(rows)

    def couplings(values):
        return [
            float(sig.coupling_from_signal_limit(v, ex, m))
            for v, ex, m in zip(values, exposures, masses, strict=True)
        ]

    coup = {
        "expected": {k: couplings(nup["expected"][k]) for k in keys},
        "observed": couplings(nup["observed"]) if observed else None,
    }
    measurement = _measurement(inputs, model)
    n_sigma = inputs.provenance.get("g2_band_n_sigma")
    band = sig.g2_band(masses, None if n_sigma is None else float(n_sigma), measurement)
    out: dict[str, Any] = {
        "model": model,
        "coupling_name": getattr(sig, "coupling_name", model),
        "coupling_label": sig.coupling_label,
        "cl": cl,
        "blinded": inputs.blinded,
        "method": sorted(methods),
        "masses_gev": [float(m) for m in masses],
        "eot_eff": eot_effs,
        "n_up": nup,
        "coupling": coup,
        "g2_band": _clean([np.atleast_1d(band[0]).tolist(), np.atleast_1d(band[1]).tolist()])
        if band is not None
        else None,
        "efficiency": {
            p.period: [rows[i]["efficiency"] for rows in per_period]
            for i, p in enumerate(inputs.periods)
        },
        "settings": {
            "method": method,
            "ntoys": ntoys,
            "seed": seed,
            "signal_corr_unc": signal_corr_unc,
            "background_constraint": background_constraint,
            "nuisances": nuisance_names(inputs),
            "alpha_d": getattr(sig, "alpha_d", None),
            "mass_ratio": getattr(sig, "mass_ratio", None),
            "cross_section": sig.cross_section,
            "k_factor": sig.cross_section != "iww",
            "e_box_gev": sorted({d.ecal_max_gev for d in downstreams}),
            "beam_energy_gev": sorted({d.beam_energy_gev for d in downstreams}),
            "g2_measurement": list(measurement) if measurement else None,
            "unit_yield_per_eot": unit,
            "eta_down": {
                p.period: "table" if d.eta_e_f_gev else "resolution model"
                for p, d in zip(inputs.periods, downstreams, strict=True)
            },
        },
    }
    if model in SPV_A:
        out["delta_a"] = {
            "lepton": "e",
            "expected_median": [
                abs(float(sig.delta_a(c, m)))
                for c, m in zip(coup["expected"]["median"], masses, strict=True)
            ],
            "observed": [
                abs(float(sig.delta_a(c, m))) for c, m in zip(coup["observed"], masses, strict=True)
            ]
            if observed
            else None,
        }
    out["seconds"] = time.perf_counter() - t0
    return out


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def inputs_summary(inputs: LimitInputs) -> dict[str, Any]:
    """The numbers of the inputs the limits rest on (for the output JSON)."""
    return {
        "name": inputs.name,
        "blinded": inputs.blinded,
        "periods": [
            {
                "period": p.period,
                "eot": p.eot.model_dump(),
                "background": {
                    "expected": p.background.expected,
                    "stat": p.background.stat,
                    "syst": p.background.syst,
                    "method": p.background.method,
                },
                "observed": p.observed,
                "box": p.box.model_dump(),
                "beam_energy_gev": period_beam_energy(p),
                "models": sorted({t.model for t in p.efficiencies}),
            }
            for p in inputs.periods
        ],
        "total_eot": sum(p.eot.value for p in inputs.periods),
        "total_background": sum(p.background.expected for p in inputs.periods),
    }


__all__ = [
    "counting_model",
    "default_masses",
    "efficiency_at",
    "get_signal_model",
    "inputs_summary",
    "parse_masses",
    "period_beam_energy",
    "period_downstreams",
    "resolve_cross_section",
    "scan",
]
