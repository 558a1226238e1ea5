"""Atomic + nuclear form factor G2(t) and the effective photon flux chi (Bjorken et al. 2009).

References: J. D. Bjorken, R. Essig, P. Schuster, N. Toro, PRD 80, 075018 (2009) (BEST),
eqs. A18-A19 (form factors) and A17 (chi); Y.-S. Tsai, Rev. Mod. Phys. 46, 815 (1974).

Approximations (stated where made):
- elastic: Z^2 times the Thomas-Fermi-like atomic screening a^2 t / (1 + a^2 t)
  (a = 111 Z^-1/3 / m_e) times a dipole nuclear form factor 1 / (1 + t / d),
  d = 0.164 GeV^2 A^-2/3;
- inelastic (quasi-elastic on the Z protons): atomic-electron screening with a' = 773 Z^-2/3 / m_e
  times the proton dipole with the magnetic term (mu_p^2 - 1) t / 4 m_p^2; neutrons neglected.
- BEST quote ~10-20 % accuracy of chi for heavy nuclei at sub-GeV masses from this parametrisation;
  different form-factor choices change total cross sections by <~10 % (Voronchikhin, Kirpichnikov
  2024). The inelastic term is ~1/Z of the elastic one (~1-2 % for Pb).
- Integration limits: t_min = (m^2 / 2 E0)^2 and t_max = m^2 + m_e^2 (the BEST choice t_max = m^2
  with m_e^2 added so that chi stays finite and smooth for m -> m_e; the change is < 1e-3 relative
  for m > 20 MeV).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import integrate

from na64reco.constants import ELECTRON_MASS_GEV, LEAD_A_G_PER_MOL, LEAD_Z

__all__ = [
    "PROTON_MAGNETIC_MOMENT",
    "PROTON_MASS_GEV",
    "chi",
    "g2_elastic",
    "g2_form_factor",
    "g2_inelastic",
    "t_limits",
]

PROTON_MASS_GEV = 0.93827208816
PROTON_MAGNETIC_MOMENT = 2.79  # mu_p in nuclear magnetons, as in BEST eq. A19


def _screening(t: np.ndarray, a: float) -> np.ndarray:
    a2t = a * a * t
    return (a2t / (1.0 + a2t)) ** 2


def g2_elastic(t, z: float = LEAD_Z, a_mass: float = LEAD_A_G_PER_MOL):
    """Elastic (coherent) G2 at momentum transfer t [GeV^2] (BEST eq. A18); includes Z^2."""
    t = np.asarray(t, dtype=float)
    a = 111.0 * z ** (-1.0 / 3.0) / ELECTRON_MASS_GEV
    d = 0.164 * a_mass ** (-2.0 / 3.0)
    return z * z * _screening(t, a) / (1.0 + t / d) ** 2


def g2_inelastic(t, z: float = LEAD_Z):
    """Inelastic (incoherent, on protons) G2 at t [GeV^2] (BEST eq. A19); proportional to Z."""
    t = np.asarray(t, dtype=float)
    ap = 773.0 * z ** (-2.0 / 3.0) / ELECTRON_MASS_GEV
    mu2 = PROTON_MAGNETIC_MOMENT**2
    nucl = (1.0 + t * (mu2 - 1.0) / (4.0 * PROTON_MASS_GEV**2)) / (1.0 + t / 0.71) ** 4
    return z * _screening(t, ap) * nucl**2


def g2_form_factor(t, z: float = LEAD_Z, a_mass: float = LEAD_A_G_PER_MOL):
    """Total G2(t) = elastic + inelastic."""
    return g2_elastic(t, z, a_mass) + g2_inelastic(t, z)


def t_limits(mass_gev: float, e0_gev: float) -> tuple[float, float]:
    """(t_min, t_max) [GeV^2] for emitting a boson of mass m from an electron of energy E0."""
    tmin = (mass_gev * mass_gev / (2.0 * e0_gev)) ** 2
    tmax = mass_gev * mass_gev + ELECTRON_MASS_GEV**2
    return tmin, tmax


@functools.lru_cache(maxsize=4096)
def _chi_scalar(tmin: float, tmax: float, z: float, a_mass: float, elastic_only: bool) -> float:
    if tmax <= tmin:
        return 0.0

    def integrand(log_t: float) -> float:
        t = np.exp(log_t)
        g2 = g2_elastic(t, z, a_mass)
        if not elastic_only:
            g2 = g2 + g2_inelastic(t, z)
        # dt (t - tmin)/t^2 G2 = d(ln t) (t - tmin)/t G2
        return float((t - tmin) / t * g2)

    lo, hi = np.log(tmin), np.log(tmax)
    # breakpoints at the scales of the screening, nuclear and proton form factors
    scales = [
        (ELECTRON_MASS_GEV * z ** (1 / 3) / 111.0) ** 2,
        (ELECTRON_MASS_GEV * z ** (2 / 3) / 773.0) ** 2,
        0.164 * a_mass ** (-2 / 3),
        0.71,
    ]
    pts = sorted(np.log(s) for s in scales if lo < np.log(s) < hi)
    val, _err = integrate.quad(integrand, lo, hi, points=pts or None, limit=200, epsrel=1e-7)
    return float(val)


def chi(
    e0_gev,
    mass_gev,
    z: float = LEAD_Z,
    a_mass: float = LEAD_A_G_PER_MOL,
    *,
    tmin=None,
    tmax=None,
    elastic_only: bool = False,
):
    """Effective photon flux chi = int_{tmin}^{tmax} dt (t - tmin)/t^2 G2(t) (BEST eq. A17).

    Vectorised over e0_gev and mass_gev (broadcast); quadrature in ln t (relative accuracy 1e-7),
    results cached per (t_min, t_max, Z, A). Explicit tmin / tmax override the default limits
    (used e.g. for the e -> mu phi channel, whose minimal momentum transfer differs).
    """
    e0, m = np.broadcast_arrays(np.asarray(e0_gev, float), np.asarray(mass_gev, float))
    out = np.empty(e0.shape)
    for idx in np.ndindex(e0.shape):
        lo, hi = t_limits(float(m[idx]), float(e0[idx]))
        lo = lo if tmin is None else float(np.broadcast_to(tmin, e0.shape)[idx])
        hi = hi if tmax is None else float(np.broadcast_to(tmax, e0.shape)[idx])
        out[idx] = _chi_scalar(lo, hi, float(z), float(a_mass), elastic_only)
    return out if out.ndim else float(out)
