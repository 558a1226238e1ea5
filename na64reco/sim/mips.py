"""Minimum-ionising particles in the detectors: muons, the VETO and the beam counters.

Muons: Moyal (Landau-like) energy loss in the ECAL sections; in each HCAL module the signal of
the sampling structure (``conditions.hcal_sampling``: most probable 1.93 GeV, Landau width,
photo-statistics), ranging out when the muon energy (1.93 GeV lost per module) is spent. The
VETO sees each module's MIPs through two PMTs; the counters S0-S2 (and V1 for halo) one MIP.
Every function adds energy [GeV] into the rows ``idx`` of a ``Deposits`` layer.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions.periods import Geometry
from na64reco.conditions.response import Response
from na64reco.eventtree.contract import ECAL_SHAPE
from na64reco.sim.deposits import Deposits


def moyal(rng: np.random.Generator, n: int, mpv: float, width: float) -> np.ndarray:
    """Landau-like energy-loss factors: Moyal distribution with most probable value ``mpv``."""
    # Moyal: x = -2 ln(g) with g ~ Gamma(1/2, 1)... sampled as x = -ln(chi2_1): mpv 0, scale 1
    g = rng.chisquare(1, n)
    return np.clip(mpv + width * (-np.log(np.maximum(g, 1e-300))), 0.2 * mpv, 20 * mpv)


def ecal_cell_index(x_cm, y_cm, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """ECAL cell containing (x, y), -1 outside the 6 x 6 matrix."""
    pitch = geometry.ecal_cell_pitch_cm
    ix = np.floor(np.asarray(x_cm) / pitch + ECAL_SHAPE[1] / 2).astype(int)
    iy = np.floor(np.asarray(y_cm) / pitch + ECAL_SHAPE[2] / 2).astype(int)
    bad = (ix < 0) | (ix >= ECAL_SHAPE[1]) | (iy < 0) | (iy >= ECAL_SHAPE[2])
    return np.where(bad, -1, ix), np.where(bad, -1, iy)


def hcal_local_xy(x_cm: np.ndarray, y_cm: np.ndarray, geometry: Geometry):
    """Position relative to the HCAL centre, which is aligned with the beam cell."""
    from na64reco.conditions.beamline import cell_centre_cm

    cx, cy = cell_centre_cm(geometry, *geometry.beam_cell)
    return np.asarray(x_cm) - cx, np.asarray(y_cm) - cy


def mip_signal(rng: np.random.Generator, n: int, resp: Response) -> np.ndarray:
    """HCAL signal [GeV] of n muons crossing one module: the Landau (Moyal) energy loss of the
    scintillator layers with its photo-statistics (``conditions.hcal_sampling``)."""
    landau = moyal(rng, n, resp.hcal_mip_per_module_gev, resp.hcal_mip_landau_width_gev)
    stat = 1.0 + rng.standard_normal(n) / np.sqrt(resp.hcal_mip_photoelectrons)
    return landau * np.clip(stat, 0.0, None)


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
        dep = crossed * mip_signal(rng, n, resp)
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
