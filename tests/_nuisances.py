"""Test helper: paper 000's published inputs as limit_inputs v2 with named nuisances."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from na64reco.limits import scan as sc

PUBLISHED = Path(sc.__file__).parent / "published"


def published_raw(paper: str = "paper000") -> dict:
    return json.loads((PUBLISHED / f"{paper}.json").read_text())


def with_nuisances(raw: dict) -> dict:
    """paper 000's inputs as v2 with an ECAL-scale nuisance (background and A' efficiency,
    correlated over the periods) and an EOT nuisance on 2018 only."""
    raw = copy.deepcopy(raw)
    raw["version"] = 2
    for p in raw["periods"]:
        masses = next(t["masses_gev"] for t in p["efficiencies"] if t["model"] == "aprime")
        p["nuisances"] = [
            {
                "name": "ecal_scale",
                "source": "calibration",
                "description": "ECAL gain +-2%",
                "background": {"up": 1.21, "down": 0.83},
                "signal": {"aprime": {"up": [0.98] * len(masses), "down": [1.01] * len(masses)}},
                "eot": None,
            }
        ]
        if p["period"] == "2018":
            p["nuisances"].append(
                {"name": "eot_2018", "source": "eot", "eot": {"up": 1.03, "down": 0.97}}
            )
    return raw


def code1(h: float, up: float, down: float) -> float:
    """pyhf normsys interpolation code 1."""
    return up**h if h >= 0 else down ** (-h)


def prior_average(func) -> float:
    """E[func(h)] for h ~ N(0, 1), by adaptive quadrature on both sides of the kink at 0."""
    from scipy import integrate, stats

    lo = integrate.quad(lambda h: func(h) * stats.norm.pdf(h), -9, 0, epsabs=1e-13)[0]
    hi = integrate.quad(lambda h: func(h) * stats.norm.pdf(h), 0, 9, epsabs=1e-13)[0]
    return lo + hi
