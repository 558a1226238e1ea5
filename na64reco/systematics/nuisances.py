"""The named nuisance parameters of one period, in the shape of the limit inputs (v2).

Shape (fixed by the interface between the producer and the limit side): per period a list of
``{"name", "source", "description", "background": {"up", "down"} | null, "signal": {model:
{"up": [...], "down": [...]}} | null, "eot": {"up", "down"} | null}``; every factor is
yield(variation) / yield(nominal), finite and > 0; the signal factors of a model are aligned
with that model's ``masses_gev`` (ascending, as the limit inputs list them). The same name in
several periods is one correlated parameter.

Conventions where a factor is not defined: a nominal yield of zero gives the factor 1 (a factor
on nothing changes nothing); a variation that removes every event of a nonzero nominal gives
``MIN_FACTOR`` [choose: 1e-3, so that the factor stays > 0 as the interface requires, and is
small enough to act as "nothing left"]. Calibration and cut variations act on data (the
sideband background) and on signal; weight variations are simulation only (signal).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MIN_FACTOR", "Nuisance", "factor", "period_nuisances"]

MIN_FACTOR = 1e-3
SOURCES = {"calibration": "calibration", "cut": "cut", "weight": "weight"}


class UpDown(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up: float = Field(gt=0.0, allow_inf_nan=False)
    down: float = Field(gt=0.0, allow_inf_nan=False)


class SignalUpDown(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up: list[float] = Field(description="factor per mass, aligned with masses_gev")
    down: list[float]


class Nuisance(BaseModel):
    """One named nuisance parameter of one period (the interface's item)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    source: Literal["calibration", "cut", "weight", "efficiency", "eot", "background"]
    description: str
    background: UpDown | None = None
    signal: dict[str, SignalUpDown] | None = None
    eot: UpDown | None = None


def factor(varied: float | None, nominal: float | None) -> float:
    """yield(variation) / yield(nominal) with the conventions of the module docstring."""
    if nominal is None or varied is None or not math.isfinite(nominal) or nominal <= 0:
        return 1.0
    if not math.isfinite(varied):
        return 1.0
    return max(varied / nominal, MIN_FACTOR)


def period_nuisances(
    variations: list[dict],
    background: dict[str, float] | None,
    signal: dict[str, list[dict]] | None,
) -> list[dict]:
    """The nuisances of one period.

    ``variations``: the declared variations (``Systematics.variations`` as dicts: name, kind,
    description); ``background``: ``{"<name>__up": factor, ...}`` of the period's background
    (None: not evaluated); ``signal``: per model, the period's efficiency rows in ascending mass
    (each with ``variations: {label: {"factor"}}``), or None."""
    out = []
    for var in variations:
        name = var["name"]
        labels = {"up": f"{name}__up", "down": f"{name}__down"}
        bkg = None
        evaluated = background is not None and all(lab in background for lab in labels.values())
        if var["kind"] != "weight" and evaluated:
            bkg = {d: background[lab] for d, lab in labels.items()}
        sig = None
        if signal:
            sig = {}
            for model, rows in sorted(signal.items()):
                if not all(
                    lab in (r.get("variations") or {}) for r in rows for lab in labels.values()
                ):
                    continue
                sig[model] = {
                    d: [factor_or_one(r["variations"][lab].get("factor")) for r in rows]
                    for d, lab in labels.items()
                }
            sig = sig or None
        if bkg is None and sig is None:
            continue
        item = Nuisance(
            name=name,
            source=SOURCES[var["kind"]],
            description=var.get("description") or name,
            background=bkg,
            signal=sig,
            eot=None,
        )
        out.append(item.model_dump(mode="json"))
    return out


def factor_or_one(value: float | None) -> float:
    """A stored factor (None where the nominal efficiency was zero: 1)."""
    if value is None or not math.isfinite(value):
        return 1.0
    return max(float(value), MIN_FACTOR)
