"""One-loop contributions of light bosons to lepton anomalous magnetic moments, and g-2 bands.

Conventions: a boson X couples to the lepton l with L = g_X l-bar Gamma l X (Gamma = 1, i gamma5,
gamma^mu, gamma^mu gamma5 for S, P, V, A); paper 000 writes g_X = eps_X e.

Exact one-loop integrals (Leveille, Nucl. Phys. B137 (1978) 63; Jegerlehner & Nyffeler,
Phys. Rept. 477 (2009) 1, eqs. for the generic S/P/V/A exchange with the external lepton in the
loop), with r = m_X / m_l:

    Delta a = (g^2 / 8 pi^2) int_0^1 dx N(x) / (x^2 + r^2 (1 - x)),
    N_S = x^2 (2 - x),   N_P = -x^3,   N_V = 2 x^2 (1 - x),
    N_A = 2 x (1 - x)(x - 4) - 4 x^3 / r^2.

They reduce to paper 000 eqs. 4-7 for m_X >> m_l (checked in the tests to < 2e-5 relative at
m_X = 1 GeV, < 2e-3 at 100 MeV). The heavy-mass formulas are off by 1-3 % at m_X = 10 MeV,
4-20 % at 3 MeV and fail below (x6 for S, sign flip for P at 1 MeV; paper 000 also used exact
corrections below ~10 MeV). They also reduce to the light-boson limits 3g^2/16pi^2 (S),
-g^2/16pi^2 (P), g^2/8pi^2 (V, the Schwinger term). `delta_a(..., exact=True)` (default) uses
the integrals everywhere; `exact=False` gives paper 000 eqs. 4-7 literally.
The vector integrand with x -> 1 - z is paper 003's F(m/m_mu) (eq. 2):
F(x) = int dz 2 z (1-z)^2 / ((1-z)^2 + x^2 z), F(0) = 1, so delta a_mu = g^2 / 8 pi^2 for
m_Z' << m_mu (Schwinger-like limit) and g^2 m_mu^2 / (12 pi^2 m_Z'^2) for m_Z' >> m_mu.
All integrals: adaptive quadrature in ln x and ln(1 - x), relative accuracy ~1e-9.

Measured values (constants, (central, 1 sigma)):
- DELTA_A_E_LKB = (4.8 +- 3.0)e-13, DELTA_A_E_BERKELEY = (-8.8 +- 3.6)e-13 (paper 000 eqs. 1-2);
  S and V can explain eq. 1 (positive), P and A eq. 2 (negative), as in paper 000.
- DELTA_A_MU_2021 = (251 +- 59)e-11 (FNAL Run-1 + BNL vs the 2020 Theory Initiative value, paper
  003 Sec. I and paper 004 eq. 1): the default for all muon bands (it gives paper 003's
  g_Z' in [3.2, 5.5]e-4 at 2 sigma and paper 004's h_mu_e = (3.3 +- 0.3)e-3).
- DELTA_A_MU_2023 = (249 +- 48)e-11 (paper 001: 116592059(22) - 116591810(43), in 1e-11).
"""

from __future__ import annotations

import numpy as np
from scipy import integrate

from na64reco.constants import ALPHA_EM, ELECTRON_MASS_GEV, MUON_MASS_GEV

__all__ = [
    "DELTA_A_E_BERKELEY",
    "DELTA_A_E_LKB",
    "DELTA_A_MU_2021",
    "DELTA_A_MU_2023",
    "E_CHARGE",
    "KINDS",
    "aprime_delta_a_mu",
    "aprime_g2_band",
    "coupling_band",
    "delta_a",
    "delta_a_e",
    "delta_a_heavy",
    "electron_g2_band",
    "f_vector",
    "phi_band_eq6",
    "phi_delta_a_e",
    "phi_delta_a_mu",
    "phi_g2_band",
    "phi_loop_l",
    "zprime_delta_a_mu",
    "zprime_g2_band",
]

E_CHARGE = float(np.sqrt(4.0 * np.pi * ALPHA_EM))
KINDS = ("scalar", "pseudoscalar", "vector", "axial")

DELTA_A_E_LKB = (4.8e-13, 3.0e-13)
DELTA_A_E_BERKELEY = (-8.8e-13, 3.6e-13)
DELTA_A_MU_2021 = (251e-11, 59e-11)
DELTA_A_MU_2023 = (249e-11, 48e-11)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown boson kind {kind!r}; known: {', '.join(KINDS)}")


def _log_quad(f, scale: float, scale0: float = 1.0) -> float:
    """int_0^1 dx f(x): [0, 1/2] in ln x and [1/2, 1] in ln(1 - x), so that structures of width
    ~scale0 at x -> 0 and ~scale at x -> 1 are resolved."""

    def piece(h, sc: float) -> float:
        lo = np.log(1e-14 * min(1.0, sc))
        hi = np.log(0.5)

        def g(u: float) -> float:
            w = np.exp(u)
            return float(h(w) * w)

        pts = [p for p in (np.log(sc), np.log(10 * sc)) if lo < p < hi] or None
        val, _ = integrate.quad(g, lo, hi, points=pts, limit=400, epsabs=0.0, epsrel=1e-9)
        return float(val)

    return piece(lambda w: f(1.0 - w), scale) + piece(f, scale0)


def _loop_scalar(kind: str, r: float) -> float:
    """int_0^1 N(x) / (x^2 + r^2 (1 - x)) dx for r = m_X / m_l."""
    r2 = r * r

    def num(x: float) -> float:
        if kind == "scalar":
            return x * x * (2.0 - x)
        if kind == "pseudoscalar":
            return -(x**3)
        if kind == "vector":
            return 2.0 * x * x * (1.0 - x)
        return 2.0 * x * (1.0 - x) * (x - 4.0) - 4.0 * x**3 / r2

    return _log_quad(lambda x: num(x) / (x * x + r2 * (1.0 - x)), 1.0 / max(r2, 1.0), min(r, 1.0))


def delta_a(
    kind: str, coupling, mass_gev, lepton_mass_gev: float = ELECTRON_MASS_GEV, *, exact: bool = True
):
    """Delta a_l for a boson of `kind` with coupling g (NOT eps) to the lepton; vectorised.

    exact=True: one-loop integrals (any mass); exact=False: paper 000 eqs. 4-7 (m_X >> m_l).
    """
    _check_kind(kind)
    g = np.asarray(coupling, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    if not exact:
        return delta_a_heavy(kind, g, m, lepton_mass_gev)
    if np.any(m <= 0):
        raise ValueError(f"boson {kind!r}: mass must be > 0, got {mass_gev!r}")
    flat = np.atleast_1d(m).ravel()
    loops = np.array([_loop_scalar(kind, float(mi) / lepton_mass_gev) for mi in flat])
    loops = loops.reshape(np.shape(m))
    out = g * g / (8.0 * np.pi**2) * loops
    return out if np.ndim(out) else float(out)


def delta_a_heavy(kind: str, coupling, mass_gev, lepton_mass_gev: float = ELECTRON_MASS_GEV):
    """Paper 000 eqs. 4-7 (m_X >> m_l): g^2/(4 pi^2) (m_l/m_X)^2 [...]."""
    _check_kind(kind)
    g = np.asarray(coupling, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    lg = np.log(m / lepton_mass_gev)
    bracket = {
        "scalar": lg - 7.0 / 12.0,
        "pseudoscalar": -lg + 11.0 / 12.0,
        "vector": np.full_like(lg, 1.0 / 3.0),
        "axial": np.full_like(lg, -5.0 / 3.0),
    }[kind]
    out = g * g / (4.0 * np.pi**2) * (lepton_mass_gev / m) ** 2 * bracket
    return out if np.ndim(out) else float(out)


def delta_a_e(kind: str, eps, mass_gev, *, exact: bool = True):
    """Delta a_e for coupling g_X = eps e (paper 000 convention)."""
    return delta_a(kind, np.asarray(eps, dtype=float) * E_CHARGE, mass_gev, exact=exact)


def coupling_band(delta_a_per_unit_coupling2, measurement=DELTA_A_MU_2021, n_sigma: float = 2.0):
    """Couplings (lo, hi) for which c^2 * Delta a(c=1) lies in central +- n_sigma * sigma.

    Where the sign of the contribution cannot explain the measurement, (nan, nan); where the
    lower edge of the measurement is of the other sign, lo = 0.
    """
    unit = np.asarray(delta_a_per_unit_coupling2, dtype=float)
    central, sigma = measurement
    a_lo, a_hi = central - n_sigma * sigma, central + n_sigma * sigma
    same_sign = np.sign(unit) == np.sign(central)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.sqrt(np.clip(a_lo / unit, 0.0, None))
        hi = np.sqrt(np.clip(a_hi / unit, 0.0, None))
    if central < 0:
        lo, hi = np.sqrt(np.clip(a_hi / unit, 0.0, None)), np.sqrt(np.clip(a_lo / unit, 0.0, None))
    lo = np.where(same_sign, lo, np.nan)
    hi = np.where(same_sign, hi, np.nan)
    if np.ndim(lo) == 0:
        return float(lo), float(hi)
    return lo, hi


def electron_g2_band(
    kind: str, mass_gev, n_sigma: float = 1.0, measurement=None, *, exact: bool = True
):
    """eps_X band (lo, hi) explaining Delta a_e: S, V -> LKB (eq. 1), P, A -> Berkeley (eq. 2)."""
    _check_kind(kind)
    if measurement is None:
        measurement = DELTA_A_E_LKB if kind in ("scalar", "vector") else DELTA_A_E_BERKELEY
    return coupling_band(delta_a_e(kind, 1.0, mass_gev, exact=exact), measurement, n_sigma)


def f_vector(x):
    """F(x) = int_0^1 dz 2 z (1-z)^2 / ((1-z)^2 + x^2 z) (paper 003 eq. 2); F(0) = 1."""
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    out = np.array(
        [_loop_scalar("vector", float(xi)) if xi > 0 else 1.0 for xi in xs.ravel()]
    ).reshape(xs.shape)
    return out if np.ndim(x) else float(out[0])


def zprime_delta_a_mu(g_zprime, mass_gev):
    """delta a_mu = g^2 / (8 pi^2) F(m_Z' / m_mu) (paper 003 eq. 2)."""
    g = np.asarray(g_zprime, dtype=float)
    return g * g / (8.0 * np.pi**2) * f_vector(np.asarray(mass_gev, float) / MUON_MASS_GEV)


def aprime_delta_a_mu(eps, mass_gev):
    """Dark photon: delta a_mu = (alpha eps^2 / 2 pi) F_V(m_A' / m_mu)."""
    e2 = np.asarray(eps, dtype=float) ** 2
    return ALPHA_EM * e2 / (2.0 * np.pi) * f_vector(np.asarray(mass_gev, float) / MUON_MASS_GEV)


def zprime_g2_band(mass_gev, n_sigma: float = 2.0, measurement=DELTA_A_MU_2021):
    """g_Z' band explaining Delta a_mu (default (251 +- 59)e-11, 2 sigma -> [3.2, 5.4]e-4)."""
    return coupling_band(zprime_delta_a_mu(1.0, mass_gev), measurement, n_sigma)


def aprime_g2_band(mass_gev, n_sigma: float = 2.0, measurement=DELTA_A_MU_2021):
    """eps band of the dark photon explaining Delta a_mu (paper 002 Fig. 3 green band)."""
    return coupling_band(aprime_delta_a_mu(1.0, mass_gev), measurement, n_sigma)


def _phi_l_scalar(lam: float, eps: float) -> float:
    l2, e2 = lam * lam, (eps * lam) ** 2

    def f(x: float) -> float:
        return x * x * (1.0 - x) / ((1.0 - x) * (1.0 - l2 * x) + e2 * x)

    return _log_quad(f, min(1.0, e2 + abs(1.0 - l2)) if l2 != 1.0 else e2)


def phi_loop_l(mass_phi_gev, lepton: str = "mu"):
    """L of paper 004 eq. 4: (1/2) int 2x^2(1-x) / ((1-x)(1 - lam^2 x) + (eps lam)^2 x).

    lepton='mu': lam = m_mu/m_phi, eps = m_e/m_mu; 'e': m_mu <-> m_e (Delta a_e). L -> 1/3 for
    m_phi >> m_mu (eq. 5). Needs m_phi > m_mu - m_e for lepton='mu' (else mu -> e phi is open).
    """
    ml, mo = (
        (MUON_MASS_GEV, ELECTRON_MASS_GEV) if lepton == "mu" else (ELECTRON_MASS_GEV, MUON_MASS_GEV)
    )
    ms = np.atleast_1d(np.asarray(mass_phi_gev, dtype=float))
    if lepton == "mu" and np.any(ms <= MUON_MASS_GEV - ELECTRON_MASS_GEV):
        raise ValueError(f"phi: m_phi = {mass_phi_gev!r} GeV must exceed m_mu - m_e")
    out = np.array([_phi_l_scalar(ml / m, mo / ml) for m in ms.ravel()]).reshape(ms.shape)
    return out if np.ndim(mass_phi_gev) else float(out[0])


def phi_delta_a_mu(h_mu_e, mass_phi_gev, *, exact: bool = True):
    """Delta a_mu = h^2/(16 pi^2) (m_mu/m_phi)^2 L (paper 004 eqs. 3-4; exact=False: eq. 5)."""
    h2 = np.asarray(h_mu_e, dtype=float) ** 2
    m = np.asarray(mass_phi_gev, dtype=float)
    if not exact:
        return h2 / (48.0 * np.pi**2) * (MUON_MASS_GEV / m) ** 2
    return h2 / (16.0 * np.pi**2) * (MUON_MASS_GEV / m) ** 2 * phi_loop_l(m, "mu")


def phi_delta_a_e(h_mu_e, mass_phi_gev):
    """Delta a_e from the same loop with m_mu <-> m_e (paper 004 after eq. 4)."""
    h2 = np.asarray(h_mu_e, dtype=float) ** 2
    m = np.asarray(mass_phi_gev, dtype=float)
    return h2 / (16.0 * np.pi**2) * (ELECTRON_MASS_GEV / m) ** 2 * phi_loop_l(m, "e")


def phi_g2_band(mass_phi_gev, n_sigma: float = 1.0, measurement=DELTA_A_MU_2021):
    """h_mu_e band from the exact eqs. 3-4 (1 sigma by default, like eq. 6)."""
    return coupling_band(phi_delta_a_mu(1.0, mass_phi_gev), measurement, n_sigma)


def phi_band_eq6(mass_phi_gev):
    """Paper 004 eq. 6 literally: h_mu_e = (1.1 +- 0.1)e-3 m_phi / m_mu -> (lo, central, hi)."""
    r = np.asarray(mass_phi_gev, dtype=float) / MUON_MASS_GEV
    return 1.0e-3 * r, 1.1e-3 * r, 1.2e-3 * r
