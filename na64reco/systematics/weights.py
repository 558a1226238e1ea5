"""Simulation-only event weights: the simulated sample reweighted to another beam condition.

The nominal weight of every simulated event is 1 (the simulation is the nominal condition);
a weight variation multiplies a parameter of the simulated condition by a factor and
reweights each event by the exact ratio of the two truth distributions:

* ``pileup``: the number of extra beam particles in the read-out window (``mc_n_pileup``) is
  Poisson with mean mu = ``conditions.processes.pileup_mean(period)`` (the generator's
  ``overlay_pileup``); intensity x r gives mean r mu and the weight
  ``r^n exp(mu (1 - r))``;
* ``beam_energy``: the beam momentum (``mc_beam_energy``) is Gaussian around the period's
  beam energy E0 with sigma s = E0 x ``beam_momentum_spread`` (``sim.beam``); a spread x k
  gives the weight ``N(E; E0, k s) / N(E; E0, s)``. Approximation: events whose beam energy
  the generator draws otherwise (the low-energy tail of the beam) are weighted with the same
  Gaussian ratio; documented here, where it is made.

Signal reweighting to neighbouring masses is not a per-event weight here: the efficiency is
factorised as eps_up x eta_down(E_F) (paper 003), and the limit module folds eta_down(E_F),
pooled over a model's samples, with the emission spectrum of each mass it scans, which is that
reweighting in the one variable the selection depends on (E_F). A per-event weight would need
the emission's full kinematics, which the event tree does not carry.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import get_period
from na64reco.conditions.processes import pileup_mean

__all__ = ["WEIGHT_BRANCHES", "simulation_weight"]

#: the truth fields (``events.MC``) each weight reads
WEIGHT_BRANCHES = {"pileup": "n_pileup", "beam_energy": "beam_energy"}


def simulation_weight(kind: str, factor: float, truth: np.ndarray, period: str) -> np.ndarray:
    """Per-event weights of ``kind`` for its parameter scaled by ``factor``."""
    p = get_period(period)
    x = np.asarray(truth, dtype=float)
    if kind == "pileup":
        mu = pileup_mean(p)
        return np.exp(x * np.log(factor) + mu * (1.0 - factor))
    if kind == "beam_energy":
        e0 = p.beam_energy_gev
        s = e0 * p.beam_momentum_spread
        z2 = np.square((x - e0) / s)
        return np.exp(-0.5 * z2 * (1.0 / factor**2 - 1.0)) / factor
    raise ValueError(f"unknown weight {kind!r}; known: {sorted(WEIGHT_BRANCHES)}")
