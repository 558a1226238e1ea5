"""The named nuisances of limit inputs (v2) as parameters of the counting model, and their table.

``model_nuisances(inputs, model, mass)`` turns the per-period ``nuisances`` of a
``limit_inputs.json`` into ``NamedNuisance`` objects of the counting model at one mass: one per
name (a name listed by several periods is one parameter, correlated between them), with per
period the up/down factors on the signal (the efficiency factor of ``model``, linear in
log(mass) of its logarithm between the table's masses, times the EOT factor) and on the
background (1 where the period does not list the name, or lists no effect of that kind).

``systematic_table(inputs)`` gives the rows of the report's systematic table: per period and
nuisance the source and the up/down factors on background, signal (range over masses and
models) and EOT.
"""

from __future__ import annotations

import math

import numpy as np

from na64reco.limit_inputs import LimitInputs, Nuisance
from na64reco.limits.counting import NamedNuisance

__all__ = ["model_nuisances", "nuisance_names", "systematic_table", "with_proxy_nuisances"]


def nuisance_names(inputs: LimitInputs) -> list[str]:
    """Every nuisance name of the inputs, in the order of first appearance."""
    return list(dict.fromkeys(n.name for p in inputs.periods for n in p.nuisances))


def _signal_factor(nuis: Nuisance, table, model: str, mass_gev: float) -> tuple[float, float]:
    """(up, down) factor on the signal of ``model`` at ``mass_gev`` (efficiency x EOT)."""
    up = down = 1.0
    if nuis.signal and model in nuis.signal:
        f = nuis.signal[model]
        x = np.log(np.asarray(table.masses_gev, float))
        lm = math.log(mass_gev)
        up = math.exp(float(np.interp(lm, x, np.log(f.up))))
        down = math.exp(float(np.interp(lm, x, np.log(f.down))))
    if nuis.eot is not None:
        up *= nuis.eot.up
        down *= nuis.eot.down
    return up, down


def model_nuisances(inputs: LimitInputs, model: str, mass_gev: float) -> tuple[NamedNuisance, ...]:
    """The named nuisances of ``model`` at ``mass_gev`` (module docstring); () for v1 inputs."""
    out = []
    for name in nuisance_names(inputs):
        factors: dict[str, list[float]] = {k: [] for k in ("su", "sd", "bu", "bd")}
        for p in inputs.periods:
            nuis = next((n for n in p.nuisances if n.name == name), None)
            su = sd = bu = bd = 1.0
            if nuis is not None:
                table = next(t for t in p.efficiencies if t.model == model)
                su, sd = _signal_factor(nuis, table, model, mass_gev)
                if nuis.background is not None:
                    bu, bd = nuis.background.up, nuis.background.down
            for key, val in zip(factors, (su, sd, bu, bd), strict=True):
                factors[key].append(val)
        out.append(NamedNuisance(name, *(tuple(v) for v in factors.values())))
    return tuple(out)


def with_proxy_nuisances(period, model: str, proxy: str):
    """``period`` with the signal factors of ``proxy`` copied to ``model`` in every nuisance that
    has them (the efficiency proxy of ``na64reco.pipeline.limits``)."""
    nuisances = []
    for n in period.nuisances:
        if n.signal and proxy in n.signal and model not in n.signal:
            n = n.model_copy(update={"signal": {**n.signal, model: n.signal[proxy]}})
        nuisances.append(n)
    return nuisances


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.4g}" if math.isclose(lo, hi, rel_tol=1e-6) else f"{lo:.4g} to {hi:.4g}"


def systematic_table(inputs: LimitInputs) -> list[dict]:
    """Per period and nuisance: name, source, description and the up/down factors on the
    background, the signal efficiency (range over models and masses; ``None``: no effect) and
    the EOT."""
    rows = []
    for p in inputs.periods:
        for n in p.nuisances:
            sig = n.signal or {}
            ups = [v for f in sig.values() for v in f.up]
            downs = [v for f in sig.values() for v in f.down]
            rows.append(
                {
                    "period": p.period,
                    "name": n.name,
                    "source": n.source,
                    "description": n.description,
                    "background_up": None if n.background is None else n.background.up,
                    "background_down": None if n.background is None else n.background.down,
                    "signal_up": _span(ups) if ups else None,
                    "signal_down": _span(downs) if downs else None,
                    "signal_models": sorted(sig),
                    "eot_up": None if n.eot is None else n.eot.up,
                    "eot_down": None if n.eot is None else n.eot.down,
                }
            )
    return rows
