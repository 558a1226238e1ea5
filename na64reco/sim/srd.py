"""Synchrotron radiation of beam electrons in the magnets, as seen by the SRD.

The photon number spectrum of synchrotron radiation is dN/du ~ int_u^inf K_5/3(s) ds with
u = E_gamma / E_c and E_c = 0.665 E^2[GeV] B[T] keV. The number of photons emitted over a bend
is independent of the electron energy (gamma * theta = const), so a lower-energy electron emits as
many photons, each softer by (E / E0)^2. The SRD catches a fixed fraction of them and splits them
among its modules. Hadrons and muons radiate (m_e/m)^4 less, i.e. nothing; they reach the SRD
range only through a knock-on fake (probability per run period:
``RunPeriod.srd_hadron_fake_probability``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from na64reco.conditions.response import Response
from na64reco.constants import SR_CRITICAL_KEV_PER_GEV2_TESLA
from na64reco.sim.deposits import Deposits


@lru_cache(maxsize=1)
def _photon_quantiles() -> tuple[np.ndarray, np.ndarray]:
    """Inverse CDF table of u = E_gamma / E_c for the SR photon number spectrum."""
    # tail(u) = int_u^inf K_5/3(s) ds, by a cumulative trapezoid on a fine log grid from above
    s = np.logspace(-7, np.log10(60.0), 20000)
    k = special.kv(5 / 3, s)
    seg = 0.5 * (k[1:] + k[:-1]) * np.diff(s)
    tail_all = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    u = np.logspace(-5, np.log10(25.0), 1500)
    tail = np.interp(np.log(u), np.log(s), tail_all)
    # number spectrum dN/du = tail(u); cumulative integral in u
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (tail[1:] + tail[:-1]) * np.diff(u))])
    cdf /= cdf[-1]
    return cdf, u


def sample_photon_fractions(rng: np.random.Generator, n: int) -> np.ndarray:
    """n photon energies in units of the critical energy."""
    cdf, u = _photon_quantiles()
    return np.interp(rng.random(n), cdf, u)


def critical_energy_gev(electron_energy_gev: np.ndarray, field_tesla: float) -> np.ndarray:
    return (
        SR_CRITICAL_KEV_PER_GEV2_TESLA * 1e-6 * np.asarray(electron_energy_gev) ** 2 * field_tesla
    )


def add_synchrotron_radiation(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    electron_energy_gev: np.ndarray,
    resp: Response,
) -> None:
    """SRD deposits of electrons of the given energy in the magnets (rows ``idx``)."""
    n = len(idx)
    if n == 0:
        return
    n_photons = rng.poisson(resp.srd_photons_emitted * resp.srd_acceptance, n)
    owner = np.repeat(np.arange(n), n_photons)
    energies = sample_photon_fractions(rng, len(owner)) * critical_energy_gev(
        np.asarray(electron_energy_gev)[owner], resp.srd_field_tesla
    )
    module = rng.choice(3, size=len(owner), p=np.asarray(resp.srd_module_share))
    per_module = np.zeros((n, 3))
    np.add.at(per_module, (owner, module), energies)
    per_module *= np.clip(1 + resp.srd_resolution * rng.standard_normal(per_module.shape), 0, None)
    np.add.at(layer.srd, idx, per_module)


def add_srd_fakes(
    rng: np.random.Generator, layer: Deposits, idx: np.ndarray, resp: Response, probability: float
) -> np.ndarray:
    """Knock-on fakes for non-radiating particles; returns the mask of rows that got one."""
    n = len(idx)
    fake = rng.random(n) < probability
    k = int(fake.sum())
    if k:
        lo, hi = np.log(resp.srd_fake_min_gev), np.log(resp.srd_fake_max_gev)
        energy = np.exp(rng.uniform(lo, hi, k))
        module = rng.integers(0, 3, k)
        np.add.at(layer.srd, (idx[fake], module), energy)
    return fake
