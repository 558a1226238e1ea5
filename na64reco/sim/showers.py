"""Parametrised detector response: EM and hadronic showers (MIPs: ``na64reco.sim.mips``).

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
  by 5% sqrt(E_cell / GeV) *around* that total: the fluctuations of each section are rescaled so
  that the section's instrumented sum is unchanged (a redistribution, not extra resolution). The
  measured energy of a shower is then exactly E (1 + sigma z) x containment, which is what lets
  the em_shower generator condition its draw on the trigger (``em_containment_bound``).
* Hadron showers: EM fraction ~ Beta around ``ecal_hadron_em_fraction_mean``, a broad lateral
  profile, the hadronic remainder shared between ECAL and HCAL modules by an exponential
  containment law in interaction lengths; HCAL resolution 60%/sqrt(E).
* Muons, the VETO and the counters: ``na64reco.sim.mips``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from na64reco.conditions.periods import Geometry
from na64reco.conditions.response import Response
from na64reco.eventtree.contract import ECAL_SHAPE, HCAL_SHAPE
from na64reco.sim.deposits import Deposits
from na64reco.sim.mips import add_veto_mips, ecal_cell_index, hcal_local_xy

CELL_FLUCTUATION = 0.05  # relative per-cell sampling fluctuation x sqrt(E_cell / GeV) [choose]
# The shower-to-shower spread of the profile shape is a Gaussian cut at 3 sigma [choose]: a
# Gamma profile 40% shorter or longer than the mean is not an EM shower any more, and the bound
# the em_shower generation needs (em_containment_bound) stays physical.
SHAPE_SPREAD_SIGMAS = 3.0
SHOWER_POSITION_JITTER_CM = 0.1  # shower-to-shower fluctuation of the centroid [choose]
HADRON_CORE_WIDTH_CM = 1.5  # lateral Laplace widths of hadron showers in the ECAL [choose]
HADRON_HALO_WIDTH_CM = 5.0
HADRON_CORE_FRACTION = 0.5
HCAL_LATERAL_WIDTH_CM = 6.0  # HCAL lateral Laplace width [choose]
# Charged hadrons crossing the VETO behind a hadron shower: Poisson with mean E_leak / eps, E_leak
# the hadronic energy leaving the ECAL (1.6 lambda_I). eps is the mean leaking energy per charged
# hadron crossing the VETO [choose]: photo- and electroproduced hadronic systems of 10-100 GeV
# have 4-8 charged hadrons (sqrt(s) = 4-14 GeV) sharing ~2/3 of the energy, i.e. 3-7 GeV each;
# we take 6 GeV (the wide-angle ones miss the VETO, which makes those crossing it fewer). A
# shower leaking little energy (mostly neutrons and K_L) then often leaves the VETO silent, one
# leaking tens of GeV almost never. The hadron-electroproduction events left after paper 002's
# cuts (i)-(iv) follow: ~200 per 2.75e9 EOT (4 GeV: ~60, 7 GeV: ~320), paper 002 ~300 in all.
HADRON_ENERGY_PER_CHARGED_GEV = 6.0
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
    spread = np.clip(rng.standard_normal(len(e)), -SHAPE_SPREAD_SIGMAS, SHAPE_SPREAD_SIGMAS)
    a = np.maximum(a * (1 + resp.ecal_gamma_a_spread * spread), 1.05)
    ps_depth = np.clip(resp.ecal_ps_depth_x0 - start_x0, 0.0, None)
    full_depth = np.clip(resp.ecal_depth_x0 - start_x0, 0.0, None)
    f_ps = special.gammainc(a, b * ps_depth)
    f_contained = special.gammainc(a, b * full_depth)
    return f_ps, 1.0 - f_contained


def em_resolution(energy: np.ndarray | float, resp: Response) -> np.ndarray:
    """Relative EM resolution sigma/E = a / sqrt(E) (+) c of the ECAL."""
    e = np.maximum(np.asarray(energy, dtype=float), 1e-6)
    return np.sqrt(resp.ecal_stochastic**2 / e + resp.ecal_constant**2)


def smeared_energy(
    rng: np.random.Generator, energy: np.ndarray, resp: Response, z: np.ndarray | None = None
) -> np.ndarray:
    """Total visible EM energy after the calorimeter resolution (``z``: the deviation in sigmas,
    drawn when not given)."""
    e = np.maximum(energy, 1e-6)
    sigma = em_resolution(e, resp)
    if z is None:
        z = rng.standard_normal(len(e))
    return np.clip(energy * (1 + sigma * z), 0.0, None)


@dataclass
class EMProfile:
    """What decides where an EM shower's energy goes, drawn before any deposit: visible energy
    after the resolution, PS and leakage fractions, and the (jittered) shower centre [cm]."""

    visible: np.ndarray
    f_ps: np.ndarray
    f_leak: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def take(self, index: np.ndarray) -> EMProfile:
        return EMProfile(*(getattr(self, f.name)[index] for f in fields(self)))


def em_profile(
    rng: np.random.Generator,
    energy: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    resp: Response,
    start_x0: np.ndarray | float = 0.0,
    smear: bool = True,
    resolution_z: np.ndarray | None = None,
) -> EMProfile:
    """The profile of EM showers of (true) ``energy`` entering the ECAL at (x, y)."""
    energy = np.asarray(energy, dtype=float)
    n = len(energy)
    start = np.broadcast_to(np.asarray(start_x0, dtype=float), (n,))
    visible = smeared_energy(rng, energy, resp, resolution_z) if smear else energy.copy()
    f_ps, f_leak = em_longitudinal(rng, energy, start, resp)
    xs = x_cm + SHOWER_POSITION_JITTER_CM * rng.standard_normal(n)
    ys = y_cm + SHOWER_POSITION_JITTER_CM * rng.standard_normal(n)
    return EMProfile(visible, f_ps, f_leak, xs, ys)


def deposit_em_shower(
    rng: np.random.Generator,
    layer: Deposits,
    idx: np.ndarray,
    profile: EMProfile,
    geometry: Geometry,
    resp: Response,
) -> None:
    """Deposit showers of the given profiles into rows ``idx``: cells, their fluctuations and
    the longitudinal leakage into the first HCAL module."""
    if len(idx) == 0:
        return
    pitch = geometry.ecal_cell_pitch_cm
    nx, ny = ECAL_SHAPE[1], ECAL_SHAPE[2]
    p = profile
    lat = [
        cell_fractions(
            p.x, p.y, nx, ny, pitch, resp.ecal_core_fraction, core, resp.ecal_halo_width_cm
        )
        for core in (resp.ecal_ps_core_width_cm, resp.ecal_core_width_cm)
    ]
    e_ps = (p.visible * p.f_ps)[:, None, None] * lat[0]
    e_main = (p.visible * (1 - p.f_ps - p.f_leak))[:, None, None] * lat[1]
    cells = np.stack([e_ps, e_main], axis=1)
    cells[:, :, geometry.ecal_nx :, :] = 0.0  # not instrumented (2021-2022: 5 x 6)
    cells = fluctuate_cells(rng, cells)
    np.add.at(layer.ecal, idx, cells)
    # longitudinal leakage into the first HCAL module, central cell
    np.add.at(layer.hcal, (idx, 0, 1, 1), p.visible * p.f_leak)


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
    if len(idx) == 0:
        return
    profile = em_profile(rng, energy, x_cm, y_cm, resp, start_x0, smear, resolution_z)
    deposit_em_shower(rng, layer, idx, profile, geometry, resp)


def fluctuate_cells(rng: np.random.Generator, cells: np.ndarray) -> np.ndarray:
    """Per-cell fluctuations of ``CELL_FLUCTUATION`` sqrt(E_cell) that keep each section's sum.

    ``cells`` (n, 2, nx, ny); the fluctuated, non-negative cells of a section are rescaled to the
    section's sum before the fluctuation, so the total (set by the resolution) is unchanged.
    """
    before = cells.sum(axis=(2, 3), keepdims=True)
    out = cells * (
        1 + CELL_FLUCTUATION * rng.standard_normal(cells.shape) / np.sqrt(np.maximum(cells, 1e-3))
    )
    out = np.clip(out, 0.0, None)
    after = out.sum(axis=(2, 3), keepdims=True)
    return out * np.where(after > 0, before / np.where(after > 0, after, 1.0), 0.0)


def em_containment(
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    f_ps: np.ndarray,
    f_leak: np.ndarray,
    usable: np.ndarray,
    geometry: Geometry,
    resp: Response,
) -> np.ndarray:
    """Fraction of an EM shower's visible energy that lands in ``usable`` (2, 6, 6) channels.

    Exact for ``add_em_shower`` (its cell fluctuations keep each section's sum): the lateral
    fractions of the PS and main profiles over the usable cells, weighted by the longitudinal
    sharing, for showers centred at (x, y).
    """
    pitch, nx, ny = geometry.ecal_cell_pitch_cm, ECAL_SHAPE[1], ECAL_SHAPE[2]
    instrumented = np.zeros(ECAL_SHAPE[1:], dtype=bool)
    instrumented[: geometry.ecal_nx] = True
    seen = usable & instrumented
    out = []
    for sec, core in ((0, resp.ecal_ps_core_width_cm), (1, resp.ecal_core_width_cm)):
        lat = cell_fractions(
            x_cm, y_cm, nx, ny, pitch, resp.ecal_core_fraction, core, resp.ecal_halo_width_cm
        )
        out.append((lat * seen[sec]).sum(axis=(1, 2)))
    return f_ps * out[0] + (1 - f_ps - f_leak) * out[1]


def em_containment_bound(
    centre_cm: tuple[float, float],
    radius_cm: float,
    energy_range_gev: tuple[float, float],
    usable: np.ndarray,
    geometry: Geometry,
    resp: Response,
    n_sigma: float,
) -> float:
    """A lower bound of ``em_containment`` for showers (starting at the ECAL face) centred
    within ``radius_cm`` of ``centre_cm``, of energy in ``energy_range_gev`` and a longitudinal
    shape within ``n_sigma`` of its spread.

    The containment falls towards the matrix edges and dead cells, so the minimum over a polar
    grid up to the radius (interior rings included) is taken. Longitudinally C = f_ps L_ps +
    (1 - f_ps - f_leak) L_main is bounded by the largest leakage (the deepest shape, a x (1 +
    k x spread) with k = min(n_sigma, SHAPE_SPREAD_SIGMAS), at the largest energy) and the PS
    fraction in [0, f_ps_max] (the shallowest shape at the smallest energy), taken
    independently.
    """
    b = resp.ecal_gamma_b

    def shape_a(energy: float, k: float) -> float:
        a = b * (np.log(energy / resp.ecal_critical_energy_gev) - 0.5) + 1.0
        return max(a * (1 + k * resp.ecal_gamma_a_spread), 1.05)

    e_lo, e_hi = energy_range_gev
    k = min(n_sigma, SHAPE_SPREAD_SIGMAS)
    leak = 1.0 - float(special.gammainc(shape_a(e_hi, k), b * resp.ecal_depth_x0))
    f_ps_max = float(special.gammainc(shape_a(e_lo, -k), b * resp.ecal_ps_depth_x0))
    rings = np.linspace(0.0, radius_cm, 15)
    phi = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    r, p = np.meshgrid(rings, phi)
    x = centre_cm[0] + (r * np.cos(p)).ravel()
    y = centre_cm[1] + (r * np.sin(p)).ravel()
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    lat_ps = em_containment(x, y, ones, zeros, usable, geometry, resp)
    lat_main = em_containment(x, y, zeros, zeros, usable, geometry, resp)
    c = (1 - leak) * lat_main + np.minimum(0.0, f_ps_max * (lat_ps - lat_main))
    return float(c.min())


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
    """Hadronic energy entering the HCAL: shared among the modules in line with the beam (not a
    zero-degree HCAL3, 2021-2022) and their cells, 60%/sqrt(E) smeared."""
    n = len(idx)
    if n == 0:
        return
    e = np.asarray(energy, dtype=float)
    sigma = resp.hcal_stochastic / np.sqrt(np.maximum(e, 0.1))
    visible = np.clip(e * (1 + sigma * rng.standard_normal(n)), 0.0, None)
    n_mod = geometry.hcal_modules_in_line
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
    dep = np.zeros((n, *HCAL_SHAPE))
    dep[:, :n_mod] = visible[:, None, None, None] * frac[:, :, None, None] * lat[:, None]
    np.add.at(layer.hcal, idx, dep)


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
    energy_per_charged_gev: float = HADRON_ENERGY_PER_CHARGED_GEV,
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
    n_charged = rng.poisson(np.maximum(e_hcal, 0.0) / energy_per_charged_gev)
    add_veto_mips(rng, layer, idx, x_cm, n_charged.astype(float), resp)
    return e_hcal
