"""Signal yield per electron on target (EOT) in the thick NA64-e ECAL target, invisible mode.

    n_X = (rho N_A / A) X0 [ int dE T_e(E) sigma_win(E)  +  Z int dE T_+(E) sigma_res(E) ]

(paper 000 eq. 10, paper 003 eq. 11). The target is pure Pb in units of X0 (emission ~ Z^2, Sc adds
< 1 %); Z = 82 atomic electrons per atom for the resonant channel.

Radiative part (e Z -> e Z X, physics.emission IWW spectra, per eps^2 = 1):
- window: E_X = x E > E0 - E_box (the ECAL sees E0 - E_X < E_box); `e_box_gev` is an argument
  (default 50 GeV). For "phi" the electron turns into a muon that leaves the ECAL, so the window is
  on the emitter energy, E_e = E_phi + E_mu > E0 - E_box (MIP deposit of the muon in the ECAL,
  ~0.3 GeV, neglected), and the muon must cross the HCAL: E_mu = (1 - x) E_e > E_mu,min (default
  5 GeV, ~3 HCAL modules of iron); its efficiency for E_mu above that is taken as 1.
- primary electron: T(E) from the Tsai Gamma(bt) distribution (physics.tracklength), integrated
  exactly over depth in cells of y = ln(E0/E) (regularised incomplete gamma, depth quadrature in
  2000 log-spaced steps); numerical error < 0.5 % (checked against sampling.thick_target_yield).
- secondary e+ and e- (both radiate the same way): Rossi approximation A of
  physics.tracklength.secondary_track_length. They add ~3-6 % to the yield for E_box = 50 GeV;
  that track length is uncertain by a factor ~1.5-2 at E > 0.3 E0, i.e. ~3-5 % on the total.
- sigma_win(E) is evaluated at 28 energies, E - E_min geometric, and interpolated linearly in
  ln(E - E_min) (error < 0.3 %).
- K-factor: the IWW result is divided by K(m) = IWW / exact tree level, interpolated linearly in
  ln m through the analysis.md points (20 MeV, 1.2), (100 MeV, 1.65), (1 GeV, 2.1); constant
  (2.1) above 1 GeV. Below 20 MeV the 20-100 MeV slope in ln m is continued down to K = 1, which
  it reaches at 9.8 MeV, and K = 1 below: the Weizsaecker-Williams approximation becomes exact as
  m/E0 -> 0 (the momentum transfers that it mistreats scale with m^2). This is an extrapolation
  (no exact-tree-level table below 20 MeV here): the low-mass yield is uncertain by up to the
  20 % between K = 1.0 and 1.2 (10 % on a coupling limit). The points are for A' (vector); the
  same K is applied to S, P and A (an assumption: the published ETL/IWW comparisons for S, P, A
  at 100 GeV show ratios of the same size, but we have no table; expect ~20-30 % extra
  uncertainty on those yields). For "phi" K is taken at m_phi + m_mu (the mass scale of the
  produced system); an order-of-magnitude-correct heuristic (factor ~2 uncertainty).

Resonant part (e+ e- -> X, secondary positrons on atomic electrons at rest; paper 003 A.2-A.3):
    sigma(s) = 12 pi Gamma_ee B_inv Gamma s / M^2 / ((s - M^2)^2 + M^2 Gamma^2),
    Gamma_ee = alpha eps^2 M / 3,   s = 2 m_e (E + m_e),   E_F = E + m_e > E0 - E_box.
Substituting theta = atan((s - M^2) / (M Gamma)) makes the Breit-Wigner flat, so the integral over
the positron energy is done on a uniform theta grid between the window edges: for a narrow width
it is exactly the analytic narrow-width result Z T_+(E_R) 2 pi^2 alpha eps^2 B_inv / m_e at
E_R = M^2 / (2 m_e) - m_e, including the cut of the line by the window edge (arctan limits).
|Pi(s)| -> |Pi(M^2)| across the line (< 1 % for the widths considered, paper 001). T_+ from Rossi
approximation A (factor ~1.5-2 at E > 30 GeV, the dominant uncertainty of this channel). The
channel is open for sqrt(2 m_e (E0 - E_box)) <~ M < sqrt(2 m_e E0), i.e. 226-320 MeV for the
defaults, and peaks at its lower edge (T_+ falls with E).

Z' (L_mu - L_tau): eps = |Pi(M^2)| per g_Z' (physics.zprime; eps = Pi, e included), invisible
branching ratio (nu nu + chi chi) / total from paper 003 eqs. 7-9 (vanilla: nu nu vs mu mu, tau tau
above threshold; dark sector: alpha_D with m_Z'/m_chi = 3 by default, chi chi dominates). The
radiative Z' yield is the vector one times |Pi|^2 B_inv (on-shell, paper 001: < 1 % error). The
width enters only the resonant channel through the window edge; the coupling inversion iterates
on it (models.py).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from na64reco.constants import (
    ALPHA_EM,
    AVOGADRO_PER_MOL,
    ELECTRON_MASS_GEV,
    GEV2_TO_PB,
    LEAD_A_G_PER_MOL,
    LEAD_DENSITY_G_PER_CM3,
    LEAD_RADIATION_LENGTH_CM,
    LEAD_Z,
    MUON_MASS_GEV,
)
from na64reco.physics.emission import check_mass, total_cross_section, x_range
from na64reco.physics.tracklength import B_TSAI, secondary_track_length
from na64reco.physics.zprime import pi_mixing, zprime_partial_widths

__all__ = [
    "DEFAULT_BEAM_GEV",
    "DEFAULT_DEPTH_X0",
    "DEFAULT_E_BOX_GEV",
    "DEFAULT_MIN_MUON_GEV",
    "K_FACTOR_POINTS",
    "N_TARGET",
    "aprime_width",
    "k_factor",
    "phi_yield",
    "radiative_yield",
    "resonant_energy",
    "resonant_mass_window",
    "resonant_yield",
    "window_cross_section",
    "zprime_eps2",
    "zprime_invisible_fraction",
    "zprime_width",
    "zprime_yield",
]

DEFAULT_BEAM_GEV = 100.0
DEFAULT_E_BOX_GEV = 50.0
DEFAULT_DEPTH_X0 = 40.0
DEFAULT_MIN_MUON_GEV = 5.0
K_FACTOR_POINTS = ((0.020, 1.2), (0.100, 1.65), (1.0, 2.1))

#: target atoms per cm^3 times X0 [cm] times pb -> cm^2: n_X = N_TARGET * (pb X0 integral)
N_TARGET = (
    LEAD_DENSITY_G_PER_CM3 * AVOGADRO_PER_MOL / LEAD_A_G_PER_MOL * LEAD_RADIATION_LENGTH_CM * 1e-36
)
_ME = ELECTRON_MASS_GEV
_E2 = 4.0 * np.pi * ALPHA_EM
_N_SIG = 28
_N_THETA = 801


def k_factor(mass_gev):
    """IWW / exact-tree-level K(m): linear in ln m through K_FACTOR_POINTS, 2.1 above 1 GeV and,
    below 20 MeV, the 20-100 MeV slope continued down to K = 1 (reached at 9.8 MeV), 1 below."""
    lm = np.log(np.asarray(mass_gev, dtype=float))
    xs = np.log([p[0] for p in K_FACTOR_POINTS])
    ys = [p[1] for p in K_FACTOR_POINTS]
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    low = np.maximum(1.0, ys[0] + slope * (lm - xs[0]))
    out = np.where(lm < xs[0], low, np.interp(lm, xs, ys))
    return out if np.ndim(out) else float(out)


# ------------------------------------------------------------------------------------------------
# track-length tables
@functools.lru_cache(maxsize=64)
def _primary_cells(e0: float, e_min: float, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(E_cell [GeV], W_cell [X0]): W = int_0^depth dt [P(bt, y_hi) - P(bt, y_lo)] for y-cells
    between E0 and e_min (the primary's track length with energy inside each cell)."""
    y_max = np.log(e0 / e_min)
    y_edges = np.concatenate([[0.0], np.geomspace(1e-7 * y_max, y_max, 240)])
    t = np.concatenate([[0.0], np.geomspace(1e-6, depth, 2000)])
    bt = B_TSAI * t[1:, None]
    p = special.gammainc(bt, y_edges[None, :])
    cells = np.diff(p, axis=1)
    cells = np.vstack([np.zeros((1, cells.shape[1])), cells])
    cells[0, 0] = 1.0  # at t = 0 the primary has E0 (P(0+, y > 0) = 1)
    w = np.trapezoid(cells, t, axis=0)
    y_mid = 0.5 * (y_edges[1:] + y_edges[:-1])
    return e0 * np.exp(-y_mid), w


@functools.lru_cache(maxsize=64)
def _secondary_nodes(e0: float, e_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes in E on [e_min, e0] with weights * (T_+ + T_-) [X0]."""
    u, wu = np.polynomial.legendre.leggauss(48)
    e = e_min + 0.5 * (u + 1.0) * (e0 - e_min)
    w = 0.5 * (e0 - e_min) * wu
    tl = secondary_track_length(e, e0, +1) + secondary_track_length(e, e0, -1)
    return e, w * tl


# ------------------------------------------------------------------------------------------------
# radiative channel
def window_cross_section(
    model: str,
    mass_gev: float,
    energy_gev: float,
    beam_energy_gev: float = DEFAULT_BEAM_GEV,
    e_box_gev: float = DEFAULT_E_BOX_GEV,
    min_muon_energy_gev: float = DEFAULT_MIN_MUON_GEV,
) -> float:
    """sigma [pb] for an emitter of energy E to produce a signal-box event (eps^2 = 1, IWW)."""
    e_min = beam_energy_gev - e_box_gev
    if energy_gev <= e_min:
        return 0.0
    if model == "phi":
        x_max = 1.0 - min_muon_energy_gev / energy_gev
        lo, _ = x_range(model, mass_gev, energy_gev)
        if x_max <= lo:
            return 0.0
        return total_cross_section(model, mass_gev, energy_gev, x_max=x_max)
    return total_cross_section(model, mass_gev, energy_gev, x_min=e_min / energy_gev)


@functools.lru_cache(maxsize=8192)
def _radiative_unit(
    model: str, m: float, e0: float, e_box: float, depth: float, secondaries: bool, mu_min: float
) -> float:
    e_min = e0 - e_box
    lep = MUON_MASS_GEV + mu_min if model == "phi" else 0.0
    e_lo = max(e_min, (m + lep) * 1.0001)
    if e_lo >= e0:
        return 0.0
    # sigma_win on nodes geometric in (E - e_lo), interpolated in ln(E - e_lo)
    d = (e0 - e_lo) * np.geomspace(1e-7, 1.0, _N_SIG)
    e_nodes = e_lo + d
    e_nodes[-1] = e0 * (1.0 - 1e-9)
    sig = np.array([window_cross_section(model, m, float(e), e0, e_box, mu_min) for e in e_nodes])

    def sig_at(e: np.ndarray) -> np.ndarray:
        de = np.log(np.clip(e - e_lo, 1e-300, None))
        val = np.interp(de, np.log(d), sig, left=0.0, right=sig[-1])
        return np.where(e > e_lo, val, 0.0)

    e_cell, w_cell = _primary_cells(e0, e_min, depth)
    total = float(np.sum(w_cell * sig_at(e_cell)))
    if secondaries:
        e_sec, w_sec = _secondary_nodes(e0, e_min)
        total += float(np.sum(w_sec * sig_at(e_sec)))
    return total * N_TARGET


def radiative_yield(
    model: str,
    mass_gev,
    *,
    beam_energy_gev: float = DEFAULT_BEAM_GEV,
    e_box_gev: float = DEFAULT_E_BOX_GEV,
    depth_x0: float = DEFAULT_DEPTH_X0,
    secondaries: bool = True,
    apply_k_factor: bool = True,
    min_muon_energy_gev: float = DEFAULT_MIN_MUON_GEV,
):
    """Radiative bosons in the signal window per EOT for eps^2 = 1 (g_Z' = 1 for 'zprime', i.e.
    times |Pi(m^2, 1)|^2, no branching ratio); physics.emission model names; vectorised in mass."""
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    if not 0.0 < e_box_gev <= beam_energy_gev:
        raise ValueError(f"e_box_gev must be in (0, {beam_energy_gev}], got {e_box_gev!r}")
    out = np.empty(ms.shape)
    for i, m in enumerate(ms.flat):
        check_mass(model, float(m), beam_energy_gev)
        val = _radiative_unit(
            model,
            float(m),
            float(beam_energy_gev),
            float(e_box_gev),
            float(depth_x0),
            bool(secondaries),
            float(min_muon_energy_gev),
        )
        if apply_k_factor:
            val /= k_factor(m + MUON_MASS_GEV if model == "phi" else m)
        out.flat[i] = val
    return out if np.ndim(mass_gev) else float(out[0])


# ------------------------------------------------------------------------------------------------
# resonant channel
def resonant_energy(mass_gev):
    """Positron energy E_R = M^2 / (2 m_e) - m_e [GeV] for e+ e-(at rest) -> X on shell."""
    return np.asarray(mass_gev, dtype=float) ** 2 / (2.0 * _ME) - _ME


def resonant_mass_window(
    beam_energy_gev: float = DEFAULT_BEAM_GEV, e_box_gev: float = DEFAULT_E_BOX_GEV
) -> tuple[float, float]:
    """Masses whose resonance lies in the window: sqrt(2 m_e (E0 - E_box)) .. sqrt(2 m_e E0)."""
    lo = np.sqrt(2.0 * _ME * (beam_energy_gev - e_box_gev + _ME))
    hi = np.sqrt(2.0 * _ME * (beam_energy_gev + _ME))
    return float(lo), float(hi)


def resonant_yield(
    mass_gev,
    width_gev=None,
    *,
    br_invisible: float = 1.0,
    beam_energy_gev: float = DEFAULT_BEAM_GEV,
    e_box_gev: float = DEFAULT_E_BOX_GEV,
):
    """Resonant e+ e- -> X -> invisible per EOT for eps^2 = 1 (Z atomic electrons at rest).

    width_gev: total width (scalar or per mass); None = narrow (1e-6 M). Vectorised in mass.
    """
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    widths = np.broadcast_to(
        1e-6 * ms if width_gev is None else np.asarray(width_gev, dtype=float), ms.shape
    )
    e0 = float(beam_energy_gev)
    e_lo = e0 - e_box_gev - _ME  # positron energy such that E_F = E + m_e > E0 - E_box
    s_lo, s_hi = 2.0 * _ME * (e_lo + _ME), 2.0 * _ME * (e0 + _ME)
    out = np.zeros(ms.shape)
    u = (np.arange(_N_THETA) + 0.5) / _N_THETA  # midpoints
    for i, (m, gam) in enumerate(zip(ms.flat, widths.flat, strict=True)):
        mg = m * gam
        th_lo = np.arctan((s_lo - m * m) / mg)
        th_hi = np.arctan((s_hi - m * m) / mg)
        th = th_lo + (th_hi - th_lo) * u
        s = m * m + mg * np.tan(th)
        e = s / (2.0 * _ME) - _ME
        integ = np.mean(s * secondary_track_length(e, e0, +1)) * (th_hi - th_lo)
        # int dE T_+ sigma = 2 pi alpha B_inv / (m_e M^2) int dtheta s T_+   (eps = 1)
        val = 2.0 * np.pi * ALPHA_EM * br_invisible / (_ME * m * m) * integ
        out.flat[i] = val * GEV2_TO_PB * LEAD_Z * N_TARGET
    return out if np.ndim(mass_gev) else float(out[0])


def aprime_width(mass_gev, alpha_d: float = 0.1, mass_ratio: float = 3.0):
    """Gamma(A' -> chi chi-bar) [GeV] for Dirac chi, m_chi = m_A' / mass_ratio (dominant)."""
    m = np.asarray(mass_gev, dtype=float)
    r2 = 1.0 / mass_ratio**2
    if r2 >= 0.25:
        return 0.0 * m
    return alpha_d / 3.0 * m * (1.0 + 2.0 * r2) * np.sqrt(1.0 - 4.0 * r2)


# ------------------------------------------------------------------------------------------------
# Z' (L_mu - L_tau)
@functools.lru_cache(maxsize=4096)
def _pi2_unit(m: float) -> float:
    return float(abs(pi_mixing(m * m, 1.0)) ** 2)


def zprime_eps2(mass_gev, g_zprime=1.0):
    """Effective eps^2 = |Pi(m^2)|^2 for coupling g_Z' (vectorised in mass)."""
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    out = np.array([_pi2_unit(float(m)) for m in ms.flat]).reshape(ms.shape)
    out = out * np.asarray(g_zprime, dtype=float) ** 2
    return out if np.ndim(mass_gev) else float(out[0])


def _zprime_widths(m: float, g: float, alpha_d: float, mass_ratio: float) -> dict[str, float]:
    m_chi = m / mass_ratio if alpha_d > 0 else 0.0
    return zprime_partial_widths(m, g, alpha_d=alpha_d, m_chi_gev=m_chi)


def zprime_width(
    mass_gev: float, g_zprime: float, alpha_d: float = 0.0, mass_ratio: float = 3.0
) -> float:
    """Total Z' width [GeV] (paper 003 eqs. 7-9; dark sector: m_chi = m_Z' / mass_ratio)."""
    return float(sum(_zprime_widths(mass_gev, g_zprime, alpha_d, mass_ratio).values()))


def zprime_invisible_fraction(
    mass_gev: float, g_zprime: float, alpha_d: float = 0.0, mass_ratio: float = 3.0
) -> float:
    """B(Z' -> nu nu + chi chi): vanilla 1 below 2 m_mu, ~1/2 above (nu nu vs mu mu)."""
    w = _zprime_widths(mass_gev, g_zprime, alpha_d, mass_ratio)
    tot = sum(w.values())
    return float((w["nunu"] + w["chichi"]) / tot) if tot > 0 else 1.0


def zprime_yield(
    g_zprime,
    mass_gev,
    *,
    alpha_d: float = 0.0,
    mass_ratio: float = 3.0,
    beam_energy_gev: float = DEFAULT_BEAM_GEV,
    e_box_gev: float = DEFAULT_E_BOX_GEV,
    width_coupling=None,
    **kw,
):
    """Z' -> invisible events per EOT (radiative + resonant) at coupling g_Z' (vectorised in mass).

    width_coupling: the g_Z' used in the width and B_inv (default g_zprime); the coupling
    inversion iterates on it.
    """
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    g = float(g_zprime)
    gw = g if width_coupling is None else float(width_coupling)
    out = np.empty(ms.shape)
    for i, m in enumerate(ms.flat):
        check_mass("zprime", float(m), beam_energy_gev)
        br = zprime_invisible_fraction(float(m), gw, alpha_d, mass_ratio)
        width = zprime_width(float(m), gw, alpha_d, mass_ratio)
        eps2 = zprime_eps2(float(m), g)
        rad = radiative_yield(
            "vector", float(m), beam_energy_gev=beam_energy_gev, e_box_gev=e_box_gev, **kw
        )
        res = resonant_yield(
            float(m),
            max(width, 1e-12 * m),
            br_invisible=1.0,
            beam_energy_gev=beam_energy_gev,
            e_box_gev=e_box_gev,
        )
        out.flat[i] = eps2 * br * (rad + res)
    return out if np.ndim(mass_gev) else float(out[0])


def phi_yield(h_mu_e, mass_gev, **kw):
    """e Z -> mu Z phi events per EOT in the single-muon + missing-energy box (eps = h / e)."""
    h2 = np.asarray(h_mu_e, dtype=float) ** 2
    return h2 / _E2 * radiative_yield("phi", mass_gev, **kw)
