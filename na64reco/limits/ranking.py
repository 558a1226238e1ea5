"""Impact of each named nuisance on the limit: the ranking of the report.

For a nuisance ``h`` and a mass the counting model is re-made three times: with ``h`` fixed at
+1 sigma and at -1 sigma (its factors applied to the nominal signal and background, the
parameter removed) and with ``h`` dropped (removed, nominal yields); the limit on the number of
signal events is re-computed with the calculator of the scan (the observed limit once unblinded,
else the expected median) and the impact is ``N_up(variation) / N_up(nominal) - 1``. N_up is
always counted in nominal signal events (a variation scaling every period's signal by f turns a
limit L on its own signal into L / f), so the impact is also that on the signal strength; the
coupling of an invisible decay scales as sqrt(N_up), i.e. by about half the impact.
Nuisances are ranked by ``max(|up|, |down|)`` at the mass where it is largest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from na64reco.limits import statistics as st
from na64reco.limits.counting import CountingModel

__all__ = ["fixed_at", "nuisance_impacts", "ranking"]


def fixed_at(model: CountingModel, name: str, h: float | None) -> tuple[CountingModel, float]:
    """(model without nuisance ``name`` and its factors at ``h`` = +1/-1 applied, or only
    dropped for ``h`` None; the total signal scale T = sum_i a_i f_i of the variation)."""
    keep = tuple(n for n in model.nuisances if n.name != name)
    if len(keep) == len(model.nuisances):
        raise ValueError(f"no nuisance {name!r} in the model")
    nuis = next(n for n in model.nuisances if n.name == name)
    a = np.asarray(model.signal_fraction)
    b = np.asarray(model.background)
    bu = np.asarray(model.background_unc)
    if h is not None:
        fs = np.asarray(nuis.signal_up if h > 0 else nuis.signal_down)
        fb = np.asarray(nuis.background_up if h > 0 else nuis.background_down)
        a, b, bu = a * fs, b * fb, bu * fb  # the background's relative uncertainty is kept
    total = float(a.sum())
    varied = dataclasses.replace(
        model,
        signal_fraction=tuple(a / total),
        background=tuple(b),
        background_unc=tuple(bu),
        nuisances=keep,
    )
    return varied, total


def _limit(model: CountingModel, observed, method: str, ntoys: int, seed: int) -> float:
    if observed is not None:
        return st.upper_limit(model, observed, method, ntoys=ntoys, seed=seed)
    return st.expected_limits(model, method, ntoys=ntoys, seed=seed)["median"]


def nuisance_impacts(
    model: CountingModel, observed=None, method: str = "auto", ntoys: int = 2000, seed: int = 1
) -> tuple[float, list[dict]]:
    """(nominal N_up, [{name, up, down, drop}]) of every named nuisance (module docstring)."""
    method = st.resolve_method(model, method)
    nominal = _limit(model.rounded(), observed, method, ntoys, seed)
    out = []
    for n in model.nuisances:
        row = {"name": n.name}
        for key, h in (("up", 1.0), ("down", -1.0), ("drop", None)):
            varied, total = fixed_at(model, n.name, h)
            row[key] = _limit(varied.rounded(), observed, method, ntoys, seed) / total / nominal - 1
        out.append(row)
    return nominal, out


def ranking(configs: list[dict], method: str = "auto", ntoys: int = 2000, seed: int = 1) -> dict:
    """The impacts at the masses of ``configs`` (dicts with mass_gev, counting_model, observed,
    as ``scan(configs=...)`` gives them), ranked; JSON-ready."""
    masses, nominal, rows = [], [], {}
    for cfg in configs:
        nom, impacts = nuisance_impacts(cfg["counting_model"], cfg["observed"], method, ntoys, seed)
        masses.append(float(cfg["mass_gev"]))
        nominal.append(nom)
        for r in impacts:
            entry = rows.setdefault(
                r["name"], {"name": r["name"], "up": [], "down": [], "drop": []}
            )
            for k in ("up", "down", "drop"):
                entry[k].append(float(r[k]))
    order = sorted(
        rows.values(),
        key=lambda e: -max(max(abs(u), abs(d)) for u, d in zip(e["up"], e["down"], strict=True)),
    )
    observed = bool(configs) and configs[0]["observed"] is not None
    return {
        "quantity": "observed N_up" if observed else "expected median N_up",
        "method": method,
        "masses_gev": masses,
        "nominal_n_up": nominal,
        "impacts": order,
    }
