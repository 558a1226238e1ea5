"""Parametrised detector response: EM and hadronic showers, MIPs, VETO and counter light.

Every function adds energy [GeV] into the rows ``idx`` of a :class:`Deposits` layer and is
vectorised over those rows. Parameters come from ``na64reco.conditions.response``.

Approximations (stated here once):
* EM longitudinal profile: Gamma distribution dE/dt = E b (bt)^(a-1) e^(-bt) / Gamma(a) with
  t_max = (a-1)/b = ln(E/E_c) - 0.5 (PDG), the shape parameter fluctuating shower to shower by
  ``ecal_gamma_a_spread``; the PS fraction is the profile integrated over the first 4 X0 after the
  shower start, longitudinal leakage beyond 40 X0 goes to the first HCAL module.
* EM lateral profile: separable in x and y, a core + halo mixture of Laplace distributions per
  axis; the cell fraction is the product of the 1D integrals over the cell. Not radially
  symmetric, but it reproduces ~80% of a centred shower in the hit cell and a realistic sharing.
* Energy resolution: the total is smeared by sigma/E = a/sqrt(E) (+) c; each cell then fluctuates
  by 5% sqrt(E_cell / GeV) (the global stochastic term is reduced so that the sum keeps a).
* Hadron showers: EM fraction ~ Beta around ``ecal_hadron_em_fraction_mean``, a broad lateral
  profile, the hadronic remainder shared between ECAL and HCAL modules by an exponential
  containment law in interaction lengths; HCAL resolution 60%/sqrt(E).
* Muons: Moyal (Landau-like) energy loss in the ECAL sections and ~2 GeV per HCAL module, ranging
  out when the muon energy is spent.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from na64reco.conditions.periods import Geometry
from na64reco.conditions.response import Response
from na64reco.eventtree.contract import ECAL_SHAPE, HCAL_SHAPE
from na64reco.sim.deposits import Deposits

CELL_FLUCTUATION = 0.05  # relative per-cell sampling fluctuation x sqrt(E_cell / GeV) [choose]
SHOWER_POSITION_JITTER_CM = 0.1  # shower-to-shower fluctuation of the centroid [choose]
HADRON_CORE_WIDTH_CM = 1.5  # lateral Laplace widths of hadron showers in the ECAL [choose]
HADRON_HALO_WIDTH_CM = 5.0
HADRON_CORE_FRACTION = 0.5
HCAL_LATERAL_WIDTH_CM = 6.0  # HCAL lateral Laplace width [choose]
# Mean number of charged hadrons of a hadron shower crossing the VETO [choose]: 3 leaves ~5% of
# hadronic events without a VETO hit, which gives the few hundred events of paper 002 after its
# cuts (i)-(iv) per 2.75e9 EOT.
HADRON_VETO_MULTIPLICITY = 3.0
HCAL_SHOWER_LENGTH_LAMBDA = 2.0  # mean hadronic containment length, interaction lengths [choose]


def _laplace_cdf(u: np.ndarray, b: float | np.ndarray) -> np.ndarray:
    tail = 0.5 * np.exp(-np.abs(u) / b)  # one exp per element; identical values
    return np.where(u < 0, tail, 1 - tail)


def _mixture_cdf(u, core_fraction, core_width, halo_width):
    return core_fraction * _laplace_cdf(u, core_width) + (1 - core_fraction) * _laplace_cdf(
        u, halo_width
    )


def cell_fractions(
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    n_x: int,
    n_y: int,
    pitch_cm: float,
    core_fraction: float,
    core_width_cm: float,
    halo_width_cm: float,
) -> np.ndarray:
    """Fraction of a lateral profile centred at (x, y) in each cell of an n_x x n_y matrix.

    Cells are centred at ((i - (n-1)/2) pitch); the result has shape (n, n_x, n_y) and sums to
    less than one by the leakage outside the matrix.
    """
    edges_x = (np.arange(n_x + 1) - n_x / 2) * pitch_cm
    edges_y = (np.arange(n_y + 1) - n_y / 2) * pitch_cm
    cx = _mixture_cdf(edges_x[None, :] - x_cm[:, None], core_fraction, core_width_cm, halo_width_cm)
    cy = _mixture_cdf(edges_y[None, :] - y_cm[:, None], core_fraction, core_width_cm, halo_width_cm)
    fx = np.diff(cx, axis=1)
    fy = np.diff(cy, axis=1)
    return fx[:, :, None] * fy[:, None, :]


def em_longitudinal(
    rng: np.random.Generator, energy: np.ndarray, start_x0: np.ndarray, resp: Response
) -> tuple[np.ndarray, np.ndarray]:
    """(PS fraction, leakage fraction beyond the ECAL) of EM showers starting at ``start_x0``."""
    e = np.maximum(energy, 2 * resp.ecal_critical_energy_gev)
    b = resp.ecal_gamma_b
    a = b * (np.log(e / resp.ecal_critical_energy_gev) - 0.5) + 1.0
    a = np.maximum(a * (1 + resp.ecal_gamma_a_spread * rng.standard_normal(len(e))), 1.05)
    ps_depth = np.clip(resp.ecal_ps_depth_x0 - start_x0, 0.0, None)
    full_depth = np.clip(resp.ecal_depth_x0 - start_x0, 0.0, None)
    f_ps = special.gammainc(a, b * ps_depth)
    f_contained = special.gammainc(a, b * full_depth)
    return f_ps, 1.0 - f_contained


def smeared_energy(
    rng: np.random.Generator, energy: np.ndarray, resp: Response, z: np.ndarray | None = None
) -> np.ndarray:
    """Total visible EM energy after the calorimeter resolution (the cell term comes later)."""
    stochastic = np.sqrt(max(resp.ecal_stochastic**2 - CELL_FLUCTUATION**2, 0.0))
    e = np.maximum(energy, 1e-6)
    sigma = np.sqrt(stochastic**2 / e + resp.ecal_constant**2)
    if z is None:
        z = rng.standard_normal(len(e))
    return np.clip(energy * (1 + sigma * z), 0.0, None)


def add_em_shower(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    energy: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    geometry: Geometry,
    resp: Response,
    start_x0: np.ndarray | float = 0.0,
    smear: bool = True,
    resolution_z: np.ndarray | None = None,
) -> None:
    """Add EM showers of (true) ``energy`` entering the ECAL at (x, y) to rows ``idx``."""
    n = len(idx)
    if n == 0:
        return
    energy = np.asarray(energy, dtype=float)
    start = np.broadcast_to(np.asarray(start_x0, dtype=float), (n,))
    visible = smeared_energy(rng, energy, resp, resolution_z) if smear else energy.copy()
    f_ps, f_leak = em_longitudinal(rng, energy, start, resp)
    xs = x_cm + SHOWER_POSITION_JITTER_CM * rng.standard_normal(n)
    ys = y_cm + SHOWER_POSITION_JITTER_CM * rng.standard_normal(n)
    pitch = geometry.ecal_cell_pitch_cm
    nx, ny = ECAL_SHAPE[1], ECAL_SHAPE[2]
    lat_ps = cell_fractions(
        xs,
        ys,
        nx,
        ny,
        pitch,
        resp.ecal_core_fraction,
        resp.ecal_ps_core_width_cm,
        resp.ecal_halo_width_cm,
    )
    lat_main = cell_fractions(
        xs,
        ys,
        nx,
        ny,
        pitch,
        resp.ecal_core_fraction,
        resp.ecal_core_width_cm,
        resp.ecal_halo_width_cm,
    )
    e_ps = (visible * f_ps)[:, None, None] * lat_ps
    e_main = (visible * (1 - f_ps - f_leak))[:, None, None] * lat_main
    cells = np.stack([e_ps, e_main], axis=1)
    cells *= 1 + CELL_FLUCTUATION * rng.standard_normal(cells.shape) / np.sqrt(
        np.maximum(cells, 1e-3)
    )
    cells = np.clip(cells, 0.0, None)
    cells[:, :, geometry.ecal_nx :, :] = 0.0  # not instrumented (2021-2022: 5 x 6)
    np.add.at(layer.ecal, idx, cells)
    # longitudinal leakage into the first HCAL module, central cell
    np.add.at(layer.hcal, (idx, 0, 1, 1), visible * f_leak)


def add_mip_ecal(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    geometry: Geometry,
    resp: Response,
    depth_fraction: np.ndarray | float = 1.0,
) -> None:
    """Ionisation of a MIP crossing the ECAL at (x, y) (``depth_fraction`` of the main section)."""
    n = len(idx)
    if n == 0:
        return
    ix, iy = ecal_cell_index(x_cm, y_cm, geometry)
    inside = (ix >= 0) & (iy >= 0)
    scale = np.broadcast_to(np.asarray(depth_fraction, dtype=float), (n,))
    ps = resp.ecal_mip_ps_gev * moyal(rng, n, 1.0, 0.12)
    main = resp.ecal_mip_main_gev * scale * moyal(rng, n, 1.0, 0.08)
    ok = inside & (ix < geometry.ecal_nx)
    np.add.at(layer.ecal, (idx[ok], 0, ix[ok], iy[ok]), ps[ok])
    np.add.at(layer.ecal, (idx[ok], 1, ix[ok], iy[ok]), main[ok])


def ecal_cell_index(x_cm, y_cm, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """ECAL cell containing (x, y), -1 outside the 6 x 6 matrix."""
    pitch = geometry.ecal_cell_pitch_cm
    ix = np.floor(np.asarray(x_cm) / pitch + ECAL_SHAPE[1] / 2).astype(int)
    iy = np.floor(np.asarray(y_cm) / pitch + ECAL_SHAPE[2] / 2).astype(int)
    bad = (ix < 0) | (ix >= ECAL_SHAPE[1]) | (iy < 0) | (iy >= ECAL_SHAPE[2])
    return np.where(bad, -1, ix), np.where(bad, -1, iy)


def moyal(rng: np.random.Generator, n: int, mpv: float, width: float) -> np.ndarray:
    """Landau-like energy-loss factors: Moyal distribution with most probable value ``mpv``."""
    # Moyal: x = -2 ln(g) with g ~ Gamma(1/2, 1)... sampled as x = -ln(chi2_1): mpv 0, scale 1
    g = rng.chisquare(1, n)
    return np.clip(mpv + width * (-np.log(np.maximum(g, 1e-300))), 0.2 * mpv, 20 * mpv)


def hcal_local_xy(x_cm: np.ndarray, y_cm: np.ndarray, geometry: Geometry):
    """Position relative to the HCAL centre, which is aligned with the beam cell."""
    from na64reco.conditions.beamline import cell_centre_cm

    cx, cy = cell_centre_cm(geometry, *geometry.beam_cell)
    return np.asarray(x_cm) - cx, np.asarray(y_cm) - cy


def add_hcal_shower(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    energy: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    geometry: Geometry,
    resp: Response,
    start_module: np.ndarray | int = 0,
) -> None:
    """Hadronic energy entering the HCAL: shared among modules and cells, 60%/sqrt(E) smeared."""
    n = len(idx)
    if n == 0:
        return
    e = np.asarray(energy, dtype=float)
    sigma = resp.hcal_stochastic / np.sqrt(np.maximum(e, 0.1))
    visible = np.clip(e * (1 + sigma * rng.standard_normal(n)), 0.0, None)
    n_mod = HCAL_SHAPE[0]
    lam = resp.hcal_module_interaction_lengths
    start = np.broadcast_to(np.asarray(start_module), (n,))
    # exponential longitudinal containment with a shower length fluctuating shower to shower
    length = HCAL_SHOWER_LENGTH_LAMBDA * rng.lognormal(0.0, 0.3, n)
    depth = np.clip(np.arange(n_mod + 1)[None, :] - start[:, None], 0, None) * lam
    cdf = 1.0 - np.exp(-depth / length[:, None])
    frac = np.diff(cdf, axis=1)
    frac /= np.maximum(frac.sum(axis=1, keepdims=True), 1e-12)  # no leakage out of the back
    hx, hy = hcal_local_xy(x_cm, y_cm, geometry)
    lat = cell_fractions(
        hx,
        hy,
        HCAL_SHAPE[1],
        HCAL_SHAPE[2],
        geometry.hcal_cell_pitch_cm,
        resp.hcal_lateral_core_fraction,
        HCAL_LATERAL_WIDTH_CM,
        3 * HCAL_LATERAL_WIDTH_CM,
    )
    lat /= np.maximum(lat.sum(axis=(1, 2), keepdims=True), 1e-12)
    np.add.at(layer.hcal, idx, visible[:, None, None, None] * frac[:, :, None, None] * lat[:, None])


def add_hadron_shower_in_ecal(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    energy: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    depth_lambda: np.ndarray,
    geometry: Geometry,
    resp: Response,
    veto_multiplicity_mean: float = HADRON_VETO_MULTIPLICITY,
) -> np.ndarray:
    """A hadron shower starting in the ECAL at ``depth_lambda``; returns the HCAL share [GeV].

    The EM part (pi0s) showers in the ECAL with a broad profile (PS energy only when the
    interaction is inside the PS); of the hadronic part, a fraction 1 - exp(-remaining depth)
    stays in the ECAL, the rest goes to the HCAL; charged hadrons leaving the ECAL hit the VETO.
    """
    n = len(idx)
    e = np.asarray(energy, dtype=float)
    f_em = rng.beta(2.0, 2.0 / resp.ecal_hadron_em_fraction_mean - 2.0, n)
    remaining = np.clip(resp.ecal_interaction_lengths - depth_lambda, 0.0, None)
    f_had_ecal = 0.4 * (1 - np.exp(-remaining))
    e_em = e * f_em
    e_had_ecal = e * (1 - f_em) * f_had_ecal
    e_hcal = e - e_em - e_had_ecal
    ps_depth_lambda = resp.ecal_ps_depth_x0 / resp.ecal_depth_x0 * resp.ecal_interaction_lengths
    start_x0 = depth_lambda / resp.ecal_interaction_lengths * resp.ecal_depth_x0
    ecal_e = smeared_energy(rng, e_em + e_had_ecal, resp)
    lat_main = cell_fractions(
        x_cm,
        y_cm,
        ECAL_SHAPE[1],
        ECAL_SHAPE[2],
        geometry.ecal_cell_pitch_cm,
        HADRON_CORE_FRACTION,
        HADRON_CORE_WIDTH_CM,
        HADRON_HALO_WIDTH_CM,
    )
    f_ps, _ = em_longitudinal(rng, np.maximum(e_em, 0.05), start_x0, resp)
    f_ps = np.where(depth_lambda < ps_depth_lambda, f_ps * e_em / np.maximum(ecal_e, 1e-6), 0.0)
    cells = np.stack(
        [
            (ecal_e * f_ps)[:, None, None] * lat_main,
            (ecal_e * (1 - f_ps))[:, None, None] * lat_main,
        ],
        axis=1,
    )
    cells *= 1 + 2 * CELL_FLUCTUATION * rng.standard_normal(cells.shape) / np.sqrt(
        np.maximum(cells, 1e-3)
    )
    cells = np.clip(cells, 0.0, None)
    cells[:, :, geometry.ecal_nx :, :] = 0.0
    np.add.at(layer.ecal, idx, cells)
    # the hadron's own ionisation before the interaction (PS MIP when it interacts deeper)
    mip_ps = np.where(depth_lambda >= ps_depth_lambda, resp.ecal_mip_ps_gev, 0.0)
    ix, iy = ecal_cell_index(x_cm, y_cm, geometry)
    ok = (ix >= 0) & (ix < geometry.ecal_nx)
    np.add.at(layer.ecal, (idx[ok], 0, ix[ok], iy[ok]), mip_ps[ok])
    # charged hadrons crossing the VETO
    n_charged = rng.poisson(veto_multiplicity_mean, n) * (e_hcal > 1.0)
    add_veto_mips(rng, layer, idx, x_cm, n_charged.astype(float), resp)
    return e_hcal


def veto_module(x_cm: np.ndarray) -> np.ndarray:
    """VETO module (0, 1, 2) behind horizontal position x: three bands in x [choose]."""
    return np.clip(np.floor(np.asarray(x_cm) / 8.0 + 1.5).astype(int), 0, 2)


def add_veto_mips(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    x_cm: np.ndarray,
    n_mips: np.ndarray,
    resp: Response,
) -> None:
    """``n_mips`` MIPs crossing the VETO module behind x; each module is seen by two PMTs."""
    n = len(idx)
    if n == 0:
        return
    module = veto_module(x_cm)
    energy = resp.veto_mip_gev * n_mips * moyal(rng, n, 1.0, 0.1)
    for pmt in (0, 1):
        light = energy * np.clip(
            1 + resp.veto_light_sharing_spread * rng.standard_normal(n), 0, None
        )
        np.add.at(layer.veto, (idx, 2 * module + pmt), light)


def add_muon(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    energy: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    geometry: Geometry,
    resp: Response,
    n_modules: int | None = None,
) -> None:
    """A muon through ECAL, VETO and the in-line HCAL modules, ranging out when spent.

    ``n_modules`` overrides the number of HCAL modules crossed (default: those in line).
    """
    n = len(idx)
    if n == 0:
        return
    add_mip_ecal(rng, layer, idx, x_cm, y_cm, geometry, resp)
    add_veto_mips(rng, layer, idx, x_cm, np.ones(n), resp)
    remaining = np.asarray(energy, dtype=float) - 0.3  # loss in the ECAL
    hx, hy = hcal_local_xy(x_cm, y_cm, geometry)
    pitch = geometry.hcal_cell_pitch_cm
    cx = np.clip(np.floor(hx / pitch + 1.5).astype(int), 0, 2)
    cy = np.clip(np.floor(hy / pitch + 1.5).astype(int), 0, 2)
    loss = resp.hcal_muon_loss_per_module_gev
    for module in range(geometry.hcal_modules_in_line if n_modules is None else n_modules):
        crossed = np.clip(remaining / loss, 0.0, 1.0)
        dep = crossed * moyal(rng, n, resp.hcal_mip_per_module_gev, resp.hcal_mip_landau_width_gev)
        np.add.at(layer.hcal, (idx, module, cx, cy), dep)
        remaining = remaining - loss


def add_counters(
    rng: np.random.Generator, layer: Deposits, idx: np.ndarray, resp: Response, halo: np.ndarray
) -> None:
    """A beam particle through S0, S1, S2; ``halo`` marks events where a halo particle hits V1."""
    n = len(idx)
    if n == 0:
        return
    for c in range(3):
        np.add.at(layer.counter, (idx, c), resp.counter_mip_gev * moyal(rng, n, 1.0, 0.1))
    np.add.at(layer.counter, (idx, 3), halo * resp.counter_mip_gev * moyal(rng, n, 1.0, 0.1))
