"""Electron and positron track lengths T-(E), T+(E) of an EM cascade in the thick ECAL target.

The cascade equations (Rossi, "High-Energy Particles", 1952) for e-, e+ and photons in units of
X0, solved numerically (no Monte Carlo noise) on a logarithmic energy grid:

- bremsstrahlung e -> e gamma with the complete-screening Bethe-Heitler spectrum including the
  small 1/9 term (Tsai, Rev. Mod. Phys. 46 (1974) 815; PDG 34.29), per X0,
      phi_b(y) dy = (dy / y) [a (1 - y) + y^2],   a = 4/3 + c9,
      c9 = (Z^2 + Z) / (9 [Z^2 (L_rad - f) + Z L'_rad]) = 0.032 for Pb;
- pair production gamma -> e+ e- (PDG 34.31 with the same term), phi_p(u) = 1 - a u (1 - u);
- continuous energy loss: ionisation (eps = E_c = 7.43 MeV per X0 of Pb [PDG] plus 1.1 MeV of the
  1.5 mm scintillator per 1.5 mm lead, paper 003) and the emissions that do not leave a bin
  (y < 1 - exp(-delta/2)), as a drift in ln E;
- particles below E_cut and photons below E_cut are not followed (they cannot produce e+- above
  E_cut), so T+-(E) are exact (within the model) for E > E_cut.

With n = (n_e-, n_e+, n_gamma) per bin and dn/dt = K n, the depth-integrated occupation to the
target depth D is L = K^-1 (exp(K D) - 1) n0 (one LU solve; exp(K D) n0 by expm_multiply, which
is < 1e-6 of n0 above 0.5 GeV for D >= 30 X0, so the 40 X0 target uses D = infinity), and
T(E_j) = L_j / Delta E_j [X0 / GeV]. e+ and e- from pairs evolve identically, so T- - T+ is the
primary electron alone (compared with Tsai's analytic T(E) in the tests).

Approximations (stated): complete screening and the high-energy (asymptotic) pair cross section
(accurate to a few % above 1 GeV in Pb); Compton scattering, annihilation in flight, the LPM
effect (E_LPM ~ 4 TeV in Pb) and the lateral spread are neglected; the Pb/Sc sandwich is treated
as homogeneous in units of X0 (the Sc layers are 1.3 % of X0). Approximation A of Rossi (same
spectra, no ionisation, infinite depth) is solved exactly by Mellin inversion in
``approximation_a`` as a check of the numerics.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import integrate, linalg, special
from scipy.sparse.linalg import expm_multiply

from na64reco.constants import LEAD_Z
from na64reco.physics.cache import load_or_build

__all__ = [
    "C9_LEAD",
    "IONISATION_GEV_PER_X0",
    "CascadeTable",
    "approximation_a",
    "cascade_track_lengths",
    "track_lengths",
]

_LRAD = np.log(184.15 * LEAD_Z ** (-1.0 / 3.0))
_LRADP = np.log(1194.0 * LEAD_Z ** (-2.0 / 3.0))
_AZ = LEAD_Z / 137.035999084
_F_COULOMB = _AZ**2 * (
    1.0 / (1.0 + _AZ**2) + 0.20206 - 0.0369 * _AZ**2 + 0.0083 * _AZ**4 - 0.002 * _AZ**6
)
C9_LEAD = float((LEAD_Z**2 + LEAD_Z) / (9.0 * (LEAD_Z**2 * (_LRAD - _F_COULOMB) + LEAD_Z * _LRADP)))
#: ionisation per X0 of the Pb/Sc sandwich: E_c(Pb) 7.43 MeV [PDG] + 1.5 mm Sc (~2 MeV/cm) per
#: 1.5 mm Pb (0.267 X0) = 1.1 MeV per X0
IONISATION_GEV_PER_X0 = 0.00743 + 0.002 * 0.5612
CASCADE_VERSION = 2
#: depth beyond which no e+- or photon above E_cut = 0.5 GeV is left (T changes < 1e-6 between
#: 20 X0 and infinity above 0.5 GeV; checked in the tests): deeper targets use the infinite-depth
#: solution
FULL_CONTAINMENT_X0 = 30.0


def _brems_cdf(y, a: float):
    """Antiderivative of phi_b: a (ln y - y) + y^2 / 2."""
    return a * (np.log(y) - y) + 0.5 * y * y


def _pair_cdf(u, a: float):
    """Antiderivative of phi_p: u - a (u^2/2 - u^3/3)."""
    return u - a * (0.5 * u * u - u**3 / 3.0)


def _tsai_cdf(y):
    """Antiderivative of Tsai's b / (-ln(1 - y)), b = 4/3, whose primary-electron solution is the
    Gamma distribution of physics.tracklength: -b E1(-ln(1 - y))."""
    return -(4.0 / 3.0) * special.exp1(-np.log1p(-np.minimum(y, 1.0 - 1e-16)))


def _generator(e0: float, e_cut: float, delta: float, eps: float, c9: float, kernel: str = "bh"):
    """(K, centres, widths) of the discretised cascade equations (3N x 3N, order e-, e+, gamma).

    kernel 'bh': the Bethe-Heitler spectra of the module docstring; 'tsai': Tsai's approximate
    brems spectrum b / (-ln(1 - y)) (a check of the numerics against the analytic primary)."""
    a = 4.0 / 3.0 + c9
    if kernel == "tsai":
        brems = _tsai_cdf
    elif kernel == "bh":
        brems = functools.partial(_brems_cdf, a=a)
    else:
        raise ValueError(f"kernel must be 'bh' or 'tsai', not {kernel!r}")
    n = int(np.ceil(np.log(e0 / e_cut) / delta))
    # bin centres E0 exp(-delta j): the primary starts exactly at the centre of bin 0
    edges = e0 * np.exp(-delta * (np.arange(n + 1) - 0.5))  # decreasing
    centres = e0 * np.exp(-delta * np.arange(n))
    widths = edges[:-1] - edges[1:]
    K = np.zeros((3 * n, 3 * n))
    y_s = 1.0 - np.exp(-0.5 * delta)  # emissions below this keep the lepton in its bin
    j = np.arange(n)
    i = np.arange(n)
    # lepton in bin j -> lepton in bin i (i > j): 1 - y in [exp(-(i-j+1/2) d), exp(-(i-j-1/2) d)]
    dj = i[:, None] - j[None, :]
    up = np.where(dj >= 1, 1.0 - np.exp(-(dj - 0.5) * delta), 0.0)
    lo = np.where(dj >= 1, 1.0 - np.exp(-(dj + 0.5) * delta), 0.0)
    hi_y, lo_y = np.clip(lo, y_s, 1.0), np.clip(up, y_s, 1.0)  # y range (lo_y < hi_y)
    lep = np.where(dj >= 1, brems(hi_y) - brems(np.maximum(lo_y, 1e-300)), 0.0)
    lep = np.where(hi_y > lo_y, lep, 0.0)
    total_b = brems(1.0) - brems(y_s)  # all emissions that leave the bin
    # photon from lepton bin j into photon bin l: y = k / E_j in [edge_{l+1}, edge_l] / E_j
    yl_hi = np.clip(edges[:-1][:, None] / centres[None, :], y_s, 1.0)
    yl_lo = np.clip(edges[1:][:, None] / centres[None, :], y_s, 1.0)
    gam = np.where(yl_hi > yl_lo, brems(yl_hi) - brems(yl_lo), 0.0)
    # drift in ln E: soft emissions inside the bin + ionisation, upwind to bin j + 1
    if kernel == "bh":
        soft = a * (y_s - 0.5 * y_s**2) + y_s**3 / 3.0  # int_0^y_s y phi_b dy
    else:
        soft = integrate.quad(lambda y: y * (4.0 / 3.0) / -np.log1p(-y), 0.0, y_s)[0]
    drift = (soft + eps / centres) / delta
    # photons in bin l -> e+- in bin i: u = E / k_l in [edge_{i+1}, edge_i] / k_l
    u_hi = np.clip(edges[:-1][:, None] / centres[None, :], 0.0, 1.0)
    u_lo = np.clip(edges[1:][:, None] / centres[None, :], 0.0, 1.0)
    pair = np.where(u_hi > u_lo, _pair_cdf(u_hi, a) - _pair_cdf(u_lo, a), 0.0)
    sigma0 = _pair_cdf(1.0, a)
    down = np.eye(n, k=-1)  # bin j -> j + 1
    for s in (0, 1):  # e-, e+
        blk = slice(s * n, (s + 1) * n)
        K[blk, blk] = lep + down * drift[None, :]
        K[blk, blk][j, j] -= total_b + drift
        K[2 * n :, blk] = gam
        K[blk, 2 * n :] = pair
    K[2 * n :, 2 * n :][j, j] -= sigma0
    return K, centres, widths


def _solve(e0, depth, e_cut, delta, eps, c9, kernel: str = "bh"):
    K, centres, widths = _generator(e0, e_cut, delta, eps, c9, kernel)
    n = centres.size
    n0 = np.zeros(3 * n)
    n0[0] = 1.0  # one electron at E0 (top bin)
    if depth >= FULL_CONTAINMENT_X0:  # the cascade above E_cut is over: same to < 1e-6 (tests)
        occ = linalg.solve(K, -n0)
    else:
        end = expm_multiply(K * depth, n0)
        occ = linalg.solve(K, end - n0)
    return centres, occ[:n] / widths, occ[n : 2 * n] / widths


@functools.lru_cache(maxsize=8)
def cascade_track_lengths(
    e0_gev: float = 100.0,
    depth_x0: float = 40.0,
    e_cut_gev: float = 0.5,
    delta: float = 0.005,
    ionisation_gev_per_x0: float = IONISATION_GEV_PER_X0,
    c9: float = C9_LEAD,
) -> CascadeTable:
    """T-(E), T+(E) [X0/GeV] of one electron of E0 in the target (cached on disk, hashed)."""
    desc = {
        "kind": "cascade",
        "version": CASCADE_VERSION,
        "e0": e0_gev,
        "depth": depth_x0,
        "e_cut": e_cut_gev,
        "delta": delta,
        "eps": ionisation_gev_per_x0,
        "c9": c9,
    }

    def build():
        e, tm, tp = _solve(e0_gev, depth_x0, e_cut_gev, delta, ionisation_gev_per_x0, c9)
        return {"energy": e, "t_minus": tm, "t_plus": tp, "delta": np.array(delta)}

    name = f"cascade_e{e0_gev:g}_d{depth_x0:g}"
    return CascadeTable(load_or_build(name, desc, build), e0_gev)


class CascadeTable:
    """Track lengths of one cascade: per-bin occupancies (for sums over the emitter energy) and
    log-log interpolated T-(E), T+(E)."""

    def __init__(self, arrays: dict, e0: float):
        order = np.argsort(arrays["energy"])
        self.energy = np.asarray(arrays["energy"], float)[order]
        self.t_minus_nodes = np.asarray(arrays["t_minus"], float)[order]
        self.t_plus_nodes = np.asarray(arrays["t_plus"], float)[order]
        self.e0 = e0
        d = float(arrays["delta"])
        #: energy width of each bin [GeV] and the track length spent in it [X0]
        self.widths = self.energy * (np.exp(0.5 * d) - np.exp(-0.5 * d))
        self.occupancy_minus = self.t_minus_nodes * self.widths
        self.occupancy_plus = self.t_plus_nodes * self.widths

    def _interp(self, e, nodes):
        e = np.asarray(e, float)
        le = np.log(np.clip(e, self.energy[0], self.energy[-1]))
        val = np.exp(np.interp(le, np.log(self.energy), np.log(np.maximum(nodes, 1e-300))))
        inside = (e >= self.energy[0] * (1 - 1e-12)) & (e < self.e0)
        return np.where(inside, val, 0.0)

    def t_minus(self, e):
        """All electrons (primary included) [X0 / GeV]."""
        return self._interp(e, self.t_minus_nodes)

    def t_plus(self, e):
        """Positrons [X0 / GeV]."""
        return self._interp(e, self.t_plus_nodes)


def track_lengths(e0_gev: float = 100.0, depth_x0: float = 40.0) -> CascadeTable:
    """The cascade table used by the yields (E_cut = 0.5 GeV)."""
    return cascade_track_lengths(float(e0_gev), float(depth_x0))


# ------------------------------------------------------------------------------------------------
# approximation A (Rossi), exact Mellin inversion with the same spectra
def _mellin_abc(s, c9: float):
    a = 4.0 / 3.0 + c9
    hs = special.digamma(s + 1.0) + np.euler_gamma
    big_a = a * (hs - s / (s + 1.0)) + 0.5 - 1.0 / ((s + 1.0) * (s + 2.0))
    big_b = 2.0 * (1.0 / (s + 1.0) - a * (1.0 / (s + 2.0) - 1.0 / (s + 3.0)))
    big_c = a * (1.0 / s - 1.0 / (s + 1.0)) + 1.0 / (s + 2.0)
    sigma0 = 1.0 - a / 6.0
    return big_a, big_b, big_c, sigma0


def approximation_a(e_gev, e0_gev: float = 100.0, species: str = "plus", c9: float = C9_LEAD):
    """Rossi approximation A (no ionisation, infinite depth) track length [X0/GeV], exact:

    int T(E) E^s dE = E0^s F(s),  F_total = sigma0 / (A sigma0 - B C),  F_primary = 1 / A,
    T+ = (T_total - T_primary) / 2,  inverted on Re s = 1.5 (the rightmost pole is s = 1, energy
    conservation). species: 'plus' (positrons) or 'all' (e+ and e-, the classic 0.437 E0/E^2 for
    E << E0).
    """
    es = np.atleast_1d(np.asarray(e_gev, float))
    out = np.empty(es.shape)
    c0 = 1.5

    def big_f(y: float) -> complex:
        s = c0 + 1j * y
        a_, b_, c_, s0 = _mellin_abc(s, c9)
        if species == "plus":
            return 0.5 * b_ * c_ / (a_ * (a_ * s0 - b_ * c_))
        return s0 / (a_ * s0 - b_ * c_)

    for k, e in enumerate(es.flat):
        lr = np.log(e0_gev / e)  # > 0
        # Re[(E0/E)^s F(s)] = e^(c0 lr) [Re F cos(lr y) - Im F sin(lr y)]: Fourier integrals to
        # infinity (QUADPACK QAWF)
        re_part, _ = integrate.quad(lambda y: big_f(y).real, 0.0, np.inf, weight="cos", wvar=lr)
        im_part, _ = integrate.quad(lambda y: big_f(y).imag, 0.0, np.inf, weight="sin", wvar=lr)
        out.flat[k] = np.exp(c0 * lr) * (re_part - im_part) / (np.pi * e)
    return out if np.ndim(e_gev) else float(out[0])
