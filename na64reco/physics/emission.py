"""Boson emission spectra dsigma/dx in e- Z -> e- Z X (X = S, P, V, A, Z') and e- Z -> mu- Z phi.

x = E_X / E_e. Cross sections per nucleus in pb, per eps^2 = 1 (coupling g_X = eps e, paper 000;
for the Z' the effective eps is Pi(m^2) of zprime.py, for phi h_mu_e = eps e).

Improved Weizsaecker-Williams (IWW) approximation, BEST 2009 appendix A: the 2 -> 3 cross section
is the photon flux chi times the 2 -> 2 gamma e -> l X cross section at t = t_min, integrated over
the emission angle analytically (U from U_min to infinity):

    dsigma/dx = alpha^3 eps^2 chi beta N_X(x, U) / U,
    U = m^2 (1-x)/x + m_e^2 x,  beta = sqrt(1 - m^2/E^2)

- vector: N = 4 (1 - x + x^2/3) (analysis.md, BEST A16; m_e kept only in U).
- scalar, pseudoscalar, axial: N from the exact spin-summed gamma e -> e X amplitudes (m_e kept
  everywhere), derived for this module with explicit Dirac traces and integrated over U
  analytically; they reproduce the published IWW forms (Liu & Miller PRD 96 016004 (2017);
  Kirpichnikov, Lyubovitskij, Zhevlakov PRD 102 095024 (2020)):
      P: N = x^2 - m^2 x (1-x) / (3 U)
         (-> dsigma/dx = (2/3) alpha^3 eps^2 chi x^3/(m^2(1-x)) for m >> m_e)
      S: N = x^2 - (m^2 - 4 m_e^2) x(1-x)/U + (2/3)(m^2 - 4 m_e^2)(1-x)(m^2(1-x) + m_e^2 x^2)/U^2
      A: N = 2(x^2 - 2x + 2) + 4 m_e^2 x^2/m^2 - 2(m^2 - 4m_e^2) x(1-x)/U
             + (4/3)(m^2 - 4 m_e^2)(1-x)(m^2(1-x) + m_e^2 x^2)/U^2   (-> vector + (2 m_e/m)^2 P)
  The exact-m_e vector form differs from the BEST one only for 1 - x <~ (m_e/m)^2 (the log-enhanced
  end point), which shifts the total by ~7 % at 20 MeV (axial vs vector there); the spectra agree
  to < 1 % for x < 0.99.
- zprime: vector with eps^2 -> |Pi(m^2)|^2 / g^2 (returned per g_Z' = 1).
- phi (paper 004 gives no cross section): chiral vertex h e_L-bar mu_R phi, gamma e -> mu phi at
  t_min with m_e -> 0 in the amplitude; the lepton line ends as a muon, so
  U = m_phi^2 (1-x)/x + m_mu^2 and N = x^2/2 - (m_phi^2 - m_mu^2) x (1-x) / (6 U);
  t_min = ((m_phi + m_mu)^2 / 2E)^2, t_max = (m_phi + m_mu)^2 in chi. Same IWW accuracy class; the
  x -> 1 peak is cut off by m_mu, so the muon typically takes 10-40 % of the energy.

Accuracy of the IWW approximation (vs exact tree level, ETL): NA64's DMG4 divides by a K-factor
~1.2 at 20 MeV, ~1.65 at 100 MeV, ~2.1 at 1 GeV for 100 GeV electrons (analysis.md). That K is
the ratio of BEST's *leading-log* IWW total (``iww_leading_log_total``: the x integral done
analytically with the end point cut at delta = max(m_e^2/m^2, m^2/E^2)) to the ETL total, not of
the IWW spectrum integrated numerically (``total_cross_section``), which keeps the x -> 1 region
1 - x < (m_e/m)^2 and is 1.3 x larger at 1 GeV; the shapes
agree with ETL to ~10 % except in the x -> 1 peak (Voronchikhin & Kirpichnikov 2024: WW vs ETL
differ by -20 % .. +80 % in total for electrons). No K-factor is applied here. The exact tree-level
spectra are physics.etl (tabulated in physics.etl_tables, ``etl_spectrum`` is the drop-in
replacement of ``dsigma_dx``); they are what the limits use. Measured ETL / IWW of the total at
100 GeV (vector): 1.35 (1 MeV), 0.96 (10 MeV), 0.86 (20 MeV), 0.62 (100 MeV), 0.36 (1 GeV), and
1.36 in the window x > 0.5 for m <= 0.5 MeV; the signal sampler (physics.sampling) still uses
these IWW spectra.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import integrate

from na64reco.constants import ALPHA_EM, ELECTRON_MASS_GEV, GEV2_TO_PB, MUON_MASS_GEV
from na64reco.physics.formfactors import chi
from na64reco.physics.zprime import pi_mixing

__all__ = [
    "MASS_RANGES_GEV",
    "MODELS",
    "check_mass",
    "dsigma_dx",
    "iww_leading_log_total",
    "total_cross_section",
    "x_grid",
    "x_range",
]

MODELS = ("vector", "scalar", "pseudoscalar", "axial", "zprime", "phi")

#: Valid boson masses [GeV] per model (IWW validity and the papers' ranges: 1 keV .. 1 GeV for the
#: electron-coupled bosons; phi needs m_phi > m_mu (paper 004) and m_phi + m_mu < E).
MASS_RANGES_GEV = {
    "vector": (1e-6, 1.0),
    "scalar": (1e-6, 1.0),
    "pseudoscalar": (1e-6, 1.0),
    "axial": (1e-6, 1.0),
    "zprime": (1e-6, 1.0),
    "phi": (MUON_MASS_GEV, 5.0),
}

_ME = ELECTRON_MASS_GEV
_ME2 = _ME * _ME


def check_mass(model: str, mass_gev: float, energy_gev: float | None = None) -> None:
    """Raise ValueError naming the model, the mass and the valid range if the mass is outside it."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known models: {', '.join(MODELS)}")
    lo, hi = MASS_RANGES_GEV[model]
    if not (lo <= mass_gev <= hi) or not np.isfinite(mass_gev):
        raise ValueError(
            f"model {model!r}: mass {mass_gev!r} GeV outside the valid range [{lo:g}, {hi:g}] GeV"
        )
    if model == "phi" and energy_gev is not None and mass_gev + MUON_MASS_GEV >= energy_gev:
        raise ValueError(
            f"model 'phi': mass {mass_gev!r} GeV needs m_phi + m_mu < E = {energy_gev!r} GeV"
        )


def _final_lepton_mass(model: str) -> float:
    return MUON_MASS_GEV if model == "phi" else _ME


def x_range(model: str, mass_gev: float, energy_gev: float) -> tuple[float, float]:
    """Kinematic range of x = E_X / E: [m / E, 1 - m_l / E] (m_l the outgoing lepton mass)."""
    return mass_gev / energy_gev, 1.0 - _final_lepton_mass(model) / energy_gev


def _u_min(model: str, x, m: float):
    if model == "phi":
        return m * m * (1.0 - x) / x + MUON_MASS_GEV**2
    return m * m * (1.0 - x) / x + _ME2 * x


def _numerator(model: str, x, m: float, u):
    m2 = m * m
    if model in ("vector", "zprime"):
        return 4.0 * (1.0 - x + x * x / 3.0)
    if model == "pseudoscalar":
        return x * x - m2 * x * (1.0 - x) / (3.0 * u)
    d = m2 - 4.0 * _ME2
    tail = (1.0 - x) * (m2 * (1.0 - x) + _ME2 * x * x) / (u * u)
    if model == "scalar":
        return x * x - d * x * (1.0 - x) / u + (2.0 / 3.0) * d * tail
    if model == "axial":
        return (
            2.0 * (x * x - 2.0 * x + 2.0)
            + 4.0 * _ME2 * x * x / m2
            - 2.0 * d * x * (1.0 - x) / u
            + (4.0 / 3.0) * d * tail
        )
    if model == "phi":
        return x * x / 2.0 - (m2 - MUON_MASS_GEV**2) * x * (1.0 - x) / (6.0 * u)
    raise ValueError(f"unknown model {model!r}; known models: {', '.join(MODELS)}")


@functools.lru_cache(maxsize=65536)
def _coupling_flux(model: str, m: float, e: float) -> float:
    """alpha^3 * (effective eps^2 per unit coupling) * chi * beta for one (model, m, E)."""
    if model == "phi":
        s = (m + MUON_MASS_GEV) ** 2
        c = chi(e, m, tmin=(s / (2.0 * e)) ** 2, tmax=s)
        beta = np.sqrt(max(0.0, 1.0 - s / (e * e)))
    else:
        c = chi(e, m)
        beta = np.sqrt(max(0.0, 1.0 - (m / e) ** 2))
    eps2 = abs(pi_mixing(m * m, 1.0)) ** 2 if model == "zprime" else 1.0
    return ALPHA_EM**3 * eps2 * c * beta


def dsigma_dx(x, energy_gev: float, mass_gev: float, model: str):
    """dsigma/dx [pb per nucleus] for eps^2 = 1 (g_Z' = 1 for 'zprime'); 0 outside x_range."""
    check_mass(model, mass_gev, energy_gev)
    x = np.asarray(x, dtype=float)
    lo, hi = x_range(model, mass_gev, energy_gev)
    inside = (x >= lo) & (x <= hi)
    xs = np.where(inside, x, 0.5)
    u = _u_min(model, xs, mass_gev)
    val = _coupling_flux(model, float(mass_gev), float(energy_gev)) * _numerator(
        model, xs, mass_gev, u
    )
    return np.where(inside, np.maximum(val / u, 0.0), 0.0) * GEV2_TO_PB


def x_grid(model: str, mass_gev: float, energy_gev: float, n: int = 400) -> np.ndarray:
    """Grid in x dense at both ends (log-spaced in x and in 1 - x), for tabulation."""
    lo, hi = x_range(model, mass_gev, energy_gev)
    mid = 0.5 * (lo + hi)
    left = np.geomspace(lo, mid, n // 2)
    right = 1.0 - np.geomspace(1.0 - hi, 1.0 - mid, n - n // 2)[::-1]
    return np.unique(np.concatenate([left, right]))


def total_cross_section(
    model: str,
    mass_gev: float,
    energy_gev: float = 100.0,
    x_min: float | None = None,
    x_max: float | None = None,
) -> float:
    """int dsigma/dx dx over [x_min, x_max] (defaults: the full kinematic range) [pb], eps^2 = 1."""
    check_mass(model, mass_gev, energy_gev)
    lo, hi = x_range(model, mass_gev, energy_gev)
    a = lo if x_min is None else max(lo, x_min)
    b = hi if x_max is None else min(hi, x_max)
    if b <= a:
        return 0.0
    xs = x_grid(model, mass_gev, energy_gev, 2000)
    xs = np.unique(np.clip(np.concatenate([xs, [a, b]]), a, b))
    return float(integrate.simpson(dsigma_dx(xs, energy_gev, mass_gev, model), x=xs))


def iww_leading_log_total(
    mass_gev: float,
    energy_gev: float = 100.0,
    *,
    elastic_only: bool = False,
    tmax: float | None = None,
) -> float:
    """BEST's leading-log IWW total cross section of a vector [pb], eps^2 = 1.

        sigma = (4/3) alpha^3 chi beta ln(1/delta) / m^2,  delta = max(m_e^2/m^2, m^2/E^2)

    (Bjorken, Essig, Schuster, Toro 2009, Sec. II A: dsigma/dx integrated analytically at leading
    log, valid for m_e << m << E). This is the IWW total NA64's K-factor divides (IWW / ETL). chi
    is this module's flux (elastic + inelastic, t_max = m^2 + m_e^2) unless ``elastic_only`` /
    ``tmax`` select the elastic-only, t_max = m^2 variant."""
    check_mass("vector", mass_gev, energy_gev)
    m, e = float(mass_gev), float(energy_gev)
    c = chi(e, m, elastic_only=elastic_only, tmax=tmax)
    delta = max(_ME2 / (m * m), (m / e) ** 2)
    beta = np.sqrt(max(0.0, 1.0 - (m / e) ** 2))
    return float((4.0 / 3.0) * ALPHA_EM**3 * c * beta * np.log(1.0 / delta) / (m * m) * GEV2_TO_PB)
