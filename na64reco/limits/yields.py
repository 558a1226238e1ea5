"""Signal yield per electron on target (EOT) in the thick NA64-e ECAL target, invisible mode.

Paper 003 eqs. 11 and 15 with the factorised efficiency of its Sec. IV B:

    N_i = EOT_i eps_up,i (rho N_A / A) X0 [ int dE T_+-(E) int dE_F dsigma/dE_F eta_i(E_F)
                                           + Z int dE T_+(E) sigma_res(E) eta_i(E + m_e) ],

eps_up,i the upstream efficiency (the same for every channel) and eta_i(E_F) the downstream one
(limits.downstream). The limit inputs give per period the efficiency eff_i relative to the bosons
emitted in the box window E_F > E0 - E_box (W_rad below), i.e. eps_up,i = eff_i W_rad / F_rad with
F_rad the eta-folded radiative yield, so that

    N_i = EOT_i eff_i Y_i,   Y_i = eps^2 B_inv W_rad (1 + F_res / F_rad).

Radiative models (S, P, V, A, phi) have Y = W_rad, the yield in the window, whatever eta_down;
for the A' and the Z' the resonant line enters with its eta_down relative to the radiative
spectrum, which switches it on smoothly across the box edge (paper 003 Sec. IV B, E_F ~ 50 GeV for
M ~ sqrt(2 m_e (E0 - E_box)) ~ 225 MeV) instead of as a step.

Ingredients (each documented where it is computed):
- cross sections: ``cross_section="etl"`` (default) the exact tree-level spectra of physics.etl
  (tabulated, physics.etl_tables), per model (S, P, V, A, phi; the Z' is the vector times
  |Pi(m^2)|^2, on-shell as paper 001); ``"iww"`` the IWW spectra of physics.emission (paper 002's
  treatment); ``"iww-k"`` IWW divided by the former K-factor (limits.kfactor, for comparisons);
- track lengths T-(E), T+(E): the Bethe-Heitler cascade of physics.cascade (T- includes the
  primary); both e- and e+ radiate, only e+ annihilate;
- the target is pure Pb in units of X0 (emission ~ Z^2: the Sc layers add < 1 %), Z = 82 atomic
  electrons per atom for the resonant channel (the Sc electrons, +12 %, are not counted, as in
  paper 003 Sec. IV);
- phi (e Z -> mu Z phi): both the phi and the muon leave the ECAL, so eta_down and the window act
  on the emitter energy E; the muon must cross the HCAL, E_mu = (1 - x) E > 5 GeV.

Numerics: the eta-folded spectra are integrated in x by Gauss-Legendre (in x across the box edge,
in ln(1 - x) above it) at 24 emitter energies geometric in E - E_min and interpolated linearly in
ln(E - E_min) to the cascade's energy bins (delta ln E = 0.005), which are summed (< 0.3 %). The
Breit-Wigner is integrated on a uniform grid of theta = atan((s - M^2) / (M Gamma)) (exact for a
narrow width, cut correctly by eta_down).

Resonant cross section (e+ e- -> X on atomic electrons at rest, paper 003 A.2-A.3):
    sigma(s) = 12 pi Gamma_ee B_inv Gamma s / M^2 / ((s - M^2)^2 + M^2 Gamma^2),
    Gamma_ee = alpha eps^2 M / 3,   s = 2 m_e (E + m_e),   E_F = E + m_e;
|Pi(s)| -> |Pi(M^2)| across the line (< 1 %, paper 001); the atomic-electron motion (paper 001)
broadens the line at constant integral and is neglected.
"""

from __future__ import annotations

import functools

import numpy as np

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
from na64reco.limits.downstream import Downstream
from na64reco.limits.kfactor import k_factor
from na64reco.physics import emission
from na64reco.physics.cascade import track_lengths
from na64reco.physics.etl import x_nodes
from na64reco.physics.etl_tables import ENERGIES_GEV as ETL_ENERGIES_GEV
from na64reco.physics.etl_tables import etl_ratio
from na64reco.physics.zprime import pi_mixing, zprime_partial_widths

__all__ = [
    "CROSS_SECTIONS",
    "N_TARGET",
    "Downstream",
    "aprime_width",
    "radiative_terms",
    "radiative_yield",
    "resonant_energy",
    "resonant_mass_window",
    "resonant_yield",
    "spectrum",
    "zprime_eps2",
    "zprime_invisible_fraction",
    "zprime_width",
]

CROSS_SECTIONS = ("etl", "iww", "iww-k")
#: target atoms per cm^3 times X0 [cm] times pb -> cm^2: n_X = N_TARGET * (pb X0 integral)
N_TARGET = (
    LEAD_DENSITY_G_PER_CM3 * AVOGADRO_PER_MOL / LEAD_A_G_PER_MOL * LEAD_RADIATION_LENGTH_CM * 1e-36
)
_ME = ELECTRON_MASS_GEV
_E2 = 4.0 * np.pi * ALPHA_EM
_N_E = 24
_N_THETA = 801
_GL32 = np.polynomial.legendre.leggauss(32)
_GL48 = np.polynomial.legendre.leggauss(48)


def _check_cross_section(cross_section: str) -> None:
    if cross_section not in CROSS_SECTIONS:
        raise ValueError(f"cross_section must be one of {CROSS_SECTIONS}, not {cross_section!r}")


def spectrum(model: str, mass_gev: float, energy_gev: float, x, cross_section: str = "etl"):
    """dsigma/dx [pb per nucleus], eps^2 = 1, of model 'vector', 'scalar', 'pseudoscalar',
    'axial' or 'phi' (the Z' is the vector times |Pi|^2, applied by the caller)."""
    _check_cross_section(cross_section)
    iww = emission.dsigma_dx(x, energy_gev, mass_gev, model)
    if cross_section == "iww":
        return iww
    if cross_section == "iww-k":
        return iww / k_factor(mass_gev + MUON_MASS_GEV if model == "phi" else mass_gev)
    return iww * etl_ratio(model, mass_gev, energy_gev, x)


def _gl(a: float, b: float, rule) -> tuple[np.ndarray, np.ndarray]:
    u, w = rule
    return a + 0.5 * (u + 1.0) * (b - a), 0.5 * (b - a) * w


def _gl_log1m(a: float, b: float, rule) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in ln(1 - x) on [a, b] (dense towards x -> 1)."""
    la, lb = np.log1p(-a), np.log1p(-b)
    t, w = _gl(lb, la, rule)
    x = -np.expm1(t)
    return x, w * (1.0 - x)


def _folded_at(model, m, e, ds: Downstream, cs) -> float:
    """The eta-folded spectrum at emitter energy e [pb] (phi: the cross section in the muon
    window; eta_down and the box act on the emitter energy, applied by the caller)."""
    lo, hi = emission.x_range(model, m, e)
    if model == "phi":
        x_max = min(hi, 1.0 - ds.min_muon_energy_gev / e)
        if x_max <= lo:
            return 0.0
        xs, ws = x_nodes(lo, x_max, 64)
        return float(np.sum(ws * spectrum(model, m, e, xs, cs)))
    edge = ds.threshold_gev + 6.0 * float(ds.sigma_gev(ds.ecal_max_gev))
    a = max(lo, ds.e_f_min_gev / e)
    if a >= hi:
        return 0.0
    c = min(hi, max(a, edge / e))
    parts = []
    if c > a:
        parts.append(_gl(a, c, _GL32))
    if hi > c:
        parts.append(_gl_log1m(c, hi, _GL48))
    xs = np.concatenate([p[0] for p in parts])
    wx = np.concatenate([p[1] for p in parts])
    return float(np.sum(wx * spectrum(model, m, e, xs, cs) * ds.eta(xs * e)))


def _window_at(model, m, e, ds: Downstream, cs) -> float:
    """The spectrum integrated over the box window E_F > E0 - E_box at emitter energy e [pb]."""
    lo, hi = emission.x_range(model, m, e)
    a = max(lo, ds.threshold_gev / e)
    if a >= hi:
        return 0.0
    xs, wx = _gl_log1m(a, hi, _GL48)
    return float(np.sum(wx * spectrum(model, m, e, xs, cs)))


def _emitter_nodes(e_min: float, e0: float) -> np.ndarray:
    d = (e0 - e_min) * np.geomspace(1e-6, 1.0, _N_E)
    nodes = e_min + d
    nodes[-1] = e0 * (1.0 - 1e-9)
    return nodes


def _interp_log(e, e_min, nodes, vals):
    de = np.log(np.clip(e - e_min, 1e-300, None))
    out = np.interp(de, np.log(nodes - e_min), vals, left=0.0, right=vals[-1])
    return np.where(e > e_min, out, 0.0)


@functools.lru_cache(maxsize=16384)
def radiative_terms(
    model: str,
    mass_gev: float,
    ds: Downstream,
    cross_section: str = "etl",
    secondaries: bool = True,
) -> tuple[float, float]:
    """(W, F) per EOT for eps^2 = 1: bosons emitted in the box window, and the eta-folded yield."""
    emission.check_mass(model, mass_gev, ds.beam_energy_gev)
    e0 = ds.beam_energy_gev
    lep = MUON_MASS_GEV + ds.min_muon_energy_gev if model == "phi" else 0.0
    e_min = max(ds.e_f_min_gev, (mass_gev + lep) * 1.0001)
    if cross_section == "etl":  # the ETL tables start at 25 GeV: eta_down < 1e-6 below (checked)
        e_table = ETL_ENERGIES_GEV[0]
        if ds.threshold_gev - 3.0 * float(ds.sigma_gev(ds.ecal_max_gev)) < e_table:
            raise ValueError(
                f"box edge E0 - E_box = {ds.threshold_gev:g} GeV too low for the ETL tables "
                f"(emitter energies from {e_table:g} GeV)"
            )
        e_min = max(e_min, e_table)
    if e_min >= e0:
        return 0.0, 0.0
    casc = track_lengths(e0, ds.depth_x0)
    sel = casc.energy > e_min
    e_bins = casc.energy[sel]
    occ = casc.occupancy_minus[sel] + casc.occupancy_plus[sel]
    if not secondaries:
        occ = casc.occupancy_minus[sel] - casc.occupancy_plus[sel]  # the primary alone
    nodes = _emitter_nodes(e_min, e0)
    fvals = np.array([_folded_at(model, mass_gev, float(e), ds, cross_section) for e in nodes])
    folded = _interp_log(e_bins, e_min, nodes, fvals)
    if model == "phi":  # eta_down and the box act on the emitter energy
        f = float(np.sum(occ * folded * ds.eta(e_bins)))
        w = float(np.sum(occ * folded * (e_bins > ds.threshold_gev)))
        return w * N_TARGET, f * N_TARGET
    f = float(np.sum(occ * folded))
    # the window integral starts at E = E0 - E_box with a finite step (the x -> 1 end of the
    # spectrum): its own nodes, geometric above that edge
    e_w = max(ds.threshold_gev, e_min)
    nodes_w = _emitter_nodes(e_w, e0)
    wvals = np.array([_window_at(model, mass_gev, float(e), ds, cross_section) for e in nodes_w])
    w = float(np.sum(occ * _interp_log(e_bins, e_w, nodes_w, wvals)))
    return w * N_TARGET, f * N_TARGET


def radiative_yield(
    model: str,
    mass_gev,
    downstream: Downstream | None = None,
    *,
    cross_section: str = "etl",
    secondaries: bool = True,
    beam_energy_gev: float | None = None,
    e_box_gev: float | None = None,
    min_muon_energy_gev: float | None = None,
):
    """Radiative bosons in the box window per EOT for eps^2 = 1 (vectorised in mass).

    ``downstream`` (or the shortcuts beam_energy_gev, e_box_gev = the E_ECAL box edge,
    min_muon_energy_gev) describes the period; default 100 GeV, 50 GeV box."""
    ds = _downstream(downstream, beam_energy_gev, e_box_gev, min_muon_energy_gev)
    _check_cross_section(cross_section)
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    out = np.array(
        [radiative_terms(model, float(m), ds, cross_section, secondaries)[0] for m in ms.flat]
    ).reshape(ms.shape)
    return out if np.ndim(mass_gev) else float(out[0])


def _downstream(ds, beam, e_box, mu_min) -> Downstream:
    if ds is None:
        ds = Downstream()
    changes = {}
    if beam is not None:
        changes["beam_energy_gev"] = float(beam)
    if e_box is not None:
        changes["ecal_max_gev"] = float(e_box)
    if mu_min is not None:
        changes["min_muon_energy_gev"] = float(mu_min)
    if changes:
        from dataclasses import replace

        ds = replace(ds, **changes)
    return ds


# ------------------------------------------------------------------------------------------------
# resonant channel
def resonant_energy(mass_gev):
    """Positron energy E_R = M^2 / (2 m_e) - m_e [GeV] for e+ e-(at rest) -> X on shell."""
    return np.asarray(mass_gev, dtype=float) ** 2 / (2.0 * _ME) - _ME


def resonant_mass_window(beam_energy_gev: float = 100.0, e_box_gev: float = 50.0):
    """Masses resonating in the nominal window: sqrt(2 m_e (E0 - E_box)) .. sqrt(2 m_e E0)."""
    lo = np.sqrt(2.0 * _ME * (beam_energy_gev - e_box_gev + _ME))
    hi = np.sqrt(2.0 * _ME * (beam_energy_gev + _ME))
    return float(lo), float(hi)


@functools.lru_cache(maxsize=16384)
def _resonant_scalar(m: float, gam: float, ds: Downstream) -> float:
    e0 = ds.beam_energy_gev
    e_lo = max(ds.e_f_min_gev - _ME, 1e-3)
    s_lo, s_hi = 2.0 * _ME * (e_lo + _ME), 2.0 * _ME * (e0 + _ME)
    mg = m * gam
    th_lo = np.arctan((s_lo - m * m) / mg)
    th_hi = np.arctan((s_hi - m * m) / mg)
    u = (np.arange(_N_THETA) + 0.5) / _N_THETA
    th = th_lo + (th_hi - th_lo) * u
    s = m * m + mg * np.tan(th)
    e = s / (2.0 * _ME) - _ME
    t_plus = track_lengths(e0, ds.depth_x0).t_plus(e)
    integ = np.mean(s * t_plus * ds.eta(e + _ME)) * (th_hi - th_lo)
    # int dE T_+ sigma eta = 2 pi alpha / (m_e M^2) int dtheta s T_+ eta   (eps = 1, B_inv = 1)
    return 2.0 * np.pi * ALPHA_EM / (_ME * m * m) * integ * GEV2_TO_PB * LEAD_Z * N_TARGET


def resonant_yield(
    mass_gev,
    width_gev=None,
    *,
    br_invisible: float = 1.0,
    downstream: Downstream | None = None,
    beam_energy_gev: float | None = None,
    e_box_gev: float | None = None,
):
    """eta-folded resonant e+ e- -> X -> invisible per EOT for eps^2 = 1 (vectorised in mass;
    eta_down normalised to its plateau for the resolution model). width_gev: the total width
    (scalar or per mass); None = narrow (1e-6 M)."""
    ds = _downstream(downstream, beam_energy_gev, e_box_gev, None)
    ms = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    widths = np.broadcast_to(
        1e-6 * ms if width_gev is None else np.asarray(width_gev, dtype=float), ms.shape
    )
    out = np.array(
        [
            _resonant_scalar(float(m), float(g), ds)
            for m, g in zip(ms.flat, widths.flat, strict=True)
        ]
    ).reshape(ms.shape)
    out = out * br_invisible
    return out if np.ndim(mass_gev) else float(out[0])


def aprime_width(mass_gev, alpha_d: float = 0.1, mass_ratio: float = 3.0):
    """Gamma(A' -> chi chi-bar) [GeV] for Dirac chi, m_chi = m_A' / mass_ratio (dominant)."""
    m = np.asarray(mass_gev, dtype=float)
    r2 = 1.0 / mass_ratio**2
    if r2 >= 0.25:
        return 0.0 * m
    return alpha_d / 3.0 * m * (1.0 + 2.0 * r2) * np.sqrt(1.0 - 4.0 * r2)


# ------------------------------------------------------------------------------------------------
# Z' (L_mu - L_tau): eps = |Pi(M^2)| per g_Z' (paper 003 eq. 6, on-shell as paper 001)
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


def zprime_width(mass_gev: float, g_zprime: float, alpha_d: float = 0.0, mass_ratio: float = 3.0):
    """Total Z' width [GeV] (paper 003 eqs. 7-9; dark sector: m_chi = m_Z' / mass_ratio)."""
    return float(sum(_zprime_widths(mass_gev, g_zprime, alpha_d, mass_ratio).values()))


def zprime_invisible_fraction(
    mass_gev: float, g_zprime: float, alpha_d: float = 0.0, mass_ratio: float = 3.0
) -> float:
    """B(Z' -> nu nu + chi chi): vanilla 1 below 2 m_mu, ~1/2 above (nu nu vs mu mu)."""
    w = _zprime_widths(mass_gev, g_zprime, alpha_d, mass_ratio)
    tot = sum(w.values())
    return float((w["nunu"] + w["chichi"]) / tot) if tot > 0 else 1.0


def phi_per_h2() -> float:
    """1 / e^2: the phi yields are per eps^2 with h_mu_e = eps e (physics.emission)."""
    return 1.0 / _E2
