"""ECAL shower shape: the chi2 of the 3x3 cells around the hit cell against an EM reference.

Contract: pure columnar functions on numpy arrays, no file access, no loop over events.

* :func:`derive_shower_profile` builds the reference :class:`ShowerProfile` (a calibration
  artefact, stored with the constants, never hard-coded) from electron showers, normally the
  ecal-scan calibration runs (100 GeV e- steered into every cell): for each bin of the centre-of-
  gravity offset within the hit cell it takes the mean and RMS of the energy fraction of each of
  the 3x3 cells (fraction of the 3x3 sum, PS + main). Only showers whose 3x3 lies inside the
  instrumented, usable calorimeter are used; the reflections x -> -x and y -> -y (a square cell)
  are added, which quadruples the statistics; empty offset bins take the nearest filled bin.
* :func:`shower_chi2` is p348reco's ``calcShowerChi2`` idea: chi2 / ndf =
  mean over the usable 3x3 cells of ((f - mean) / sigma)^2, with ``sigma`` floored at
  ``SIGMA_FLOOR`` (absolute fraction) so that the nearly empty corner cells of a 100 GeV
  reference do not make the chi2 explode for lower-energy EM showers. Cells outside the
  calorimeter or not usable are left out of the sum and of ndf. Events without ECAL energy get
  ``CHI2_NO_SHOWER``: the result is never NaN.

The reference is taken at 100 GeV; the cell-to-cell fluctuations of lower-energy showers are
larger, so the efficiency of a fixed cut falls somewhat with energy (measured in the tests).
"""

from __future__ import annotations

import numpy as np

from na64reco.calibration.constants import ShowerProfile
from na64reco.reco.showershape_kernels import shower_chi2_kernel

__all__ = [
    "CHI2_NO_SHOWER",
    "DEFAULT_OFFSET_BINS",
    "SIGMA_FLOOR",
    "derive_shower_profile",
    "shower_chi2",
    "shower_chi2_numpy",
    "shower_fractions",
]

DEFAULT_OFFSET_BINS = 7  # CoG offset bins per axis across the cell (0.55 cm at 3.82 cm pitch)
SIGMA_FLOOR = 0.01  # absolute floor on the fraction RMS [choose]
CHI2_NO_SHOWER = 1.0e3  # chi2/ndf of an event with no in-time ECAL energy in the 3x3
MIN_EVENTS_PER_BIN = 20


def _cells(ecal_energy: np.ndarray) -> np.ndarray:
    e = np.asarray(ecal_energy)
    return e.sum(axis=1) if e.ndim == 4 else e


def _window(cells: np.ndarray, hit_ix: np.ndarray, hit_iy: np.ndarray) -> np.ndarray:
    n, nx, ny = cells.shape
    pad = np.zeros((n, nx + 2, ny + 2), dtype=cells.dtype)
    pad[:, 1:-1, 1:-1] = cells
    d = np.arange(3)
    ix = np.clip(hit_ix, 0, nx - 1).astype(np.intp)
    iy = np.clip(hit_iy, 0, ny - 1).astype(np.intp)
    rows = np.arange(n)[:, None, None]
    return pad[rows, ix[:, None, None] + d[None, :, None], iy[:, None, None] + d[None, None, :]]


def _usable3x3(usable_cells: np.ndarray | None, shape, hit_ix, hit_iy) -> np.ndarray:
    """(n,3,3) mask: cell inside the calorimeter and usable."""
    nx, ny = shape
    u = np.ones((nx, ny), bool) if usable_cells is None else np.asarray(usable_cells, bool)
    pad = np.zeros((nx + 2, ny + 2), dtype=bool)  # _window of the one (nx, ny) mask
    pad[1:-1, 1:-1] = u
    d = np.arange(3)
    ix = np.clip(hit_ix, 0, nx - 1).astype(np.intp)
    iy = np.clip(hit_iy, 0, ny - 1).astype(np.intp)
    return pad[ix[:, None, None] + d[None, :, None], iy[:, None, None] + d[None, None, :]]


def shower_fractions(
    ecal_energy: np.ndarray,
    hit_ix: np.ndarray,
    hit_iy: np.ndarray,
    cog_x: np.ndarray,
    cog_y: np.ndarray,
    pitch_cm: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fractions (n,3,3), offset_x, offset_y [cm], 3x3 sum) of the cells around the hit cell."""
    cells = _cells(ecal_energy)
    _, nx, ny = cells.shape
    win = _window(cells, hit_ix, hit_iy)
    tot = win.sum(axis=(1, 2))
    frac = win / np.where(tot > 0, tot, 1)[:, None, None]
    off_x = np.asarray(cog_x) - (np.asarray(hit_ix) - (nx - 1) / 2) * pitch_cm
    off_y = np.asarray(cog_y) - (np.asarray(hit_iy) - (ny - 1) / 2) * pitch_cm
    return frac, off_x, off_y, tot


def _bin(offset: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, offset, side="right") - 1, 0, len(edges) - 2)


def derive_shower_profile(
    ecal_energy: np.ndarray,
    hit_ix: np.ndarray,
    hit_iy: np.ndarray,
    cog_x: np.ndarray,
    cog_y: np.ndarray,
    pitch_cm: float,
    usable_cells: np.ndarray | None = None,
    n_bins: int = DEFAULT_OFFSET_BINS,
    min_events: int = MIN_EVENTS_PER_BIN,
) -> ShowerProfile:
    """Reference profile from electron showers (see module docstring).

    ``ecal_energy`` is the in-time energy per cell, (n,2,6,6) or (n,6,6) (e.g.
    ``reco["ecal_cell_e"]``); ``usable_cells`` (6,6) marks instrumented, usable cells (e.g.
    ``cset.ecal.usable.any(axis=0)``).
    """
    cells = _cells(ecal_energy)
    _, nx, ny = cells.shape
    frac, ox, oy, tot = shower_fractions(cells, hit_ix, hit_iy, cog_x, cog_y, pitch_cm)
    full = _usable3x3(usable_cells, (nx, ny), hit_ix, hit_iy).all(axis=(1, 2))
    ok = full & (tot > 0) & (np.asarray(hit_ix) >= 0)
    if ok.sum() < min_events:
        from na64reco.calibration.constants import CalibrationError

        raise CalibrationError(
            f"shower profile: {int(ok.sum())} usable electron showers, need >= {min_events}"
        )
    frac, ox, oy = frac[ok], ox[ok], oy[ok]
    # reflections x -> -x, y -> -y
    frac = np.concatenate([frac, frac[:, ::-1], frac[:, :, ::-1], frac[:, ::-1, ::-1]])
    ox = np.concatenate([ox, -ox, ox, -ox])
    oy = np.concatenate([oy, oy, -oy, -oy])
    edges = np.linspace(-pitch_cm / 2, pitch_cm / 2, n_bins + 1)
    flat = _bin(ox, edges) * n_bins + _bin(oy, edges)
    nb = n_bins * n_bins
    count = np.bincount(flat, minlength=nb).astype(float)
    f = frac.reshape(len(frac), 9)
    s1 = np.stack([np.bincount(flat, f[:, c], minlength=nb) for c in range(9)], axis=1)
    s2 = np.stack([np.bincount(flat, f[:, c] ** 2, minlength=nb) for c in range(9)], axis=1)
    filled = count >= min_events
    safe = np.where(filled, count, 1)[:, None]
    mean = s1 / safe
    sigma = np.sqrt(np.maximum(s2 / safe - mean**2, 0))
    if not filled.all():  # nearest filled bin (bin-index distance), a loop over bins only
        bi, bj = np.divmod(np.arange(nb), n_bins)
        fi = np.flatnonzero(filled)
        d2 = (bi[:, None] - bi[fi][None]) ** 2 + (bj[:, None] - bj[fi][None]) ** 2
        src = fi[d2.argmin(axis=1)]
        mean, sigma = mean[src], sigma[src]
    return ShowerProfile(
        offset_edges_cm=edges,
        mean=mean.reshape(n_bins, n_bins, 3, 3),
        sigma=sigma.reshape(n_bins, n_bins, 3, 3),
    )


def shower_chi2(
    ecal_energy: np.ndarray,
    hit_ix: np.ndarray,
    hit_iy: np.ndarray,
    cog_x: np.ndarray,
    cog_y: np.ndarray,
    profile: ShowerProfile,
    pitch_cm: float,
    usable_cells: np.ndarray | None = None,
    sigma_floor: float = SIGMA_FLOOR,
) -> np.ndarray:
    """chi2 / ndf (float32, never NaN) of the 3x3 energy fractions against ``profile``.

    One numba pass per event (``showershape_kernels.shower_chi2_kernel``), bit-identical to
    :func:`shower_chi2_numpy`.
    """
    cells = np.ascontiguousarray(_cells(ecal_energy), dtype=np.float32)
    _, nx, ny = cells.shape
    usable = np.ones((nx, ny), bool) if usable_cells is None else np.asarray(usable_cells, bool)
    return shower_chi2_kernel(
        cells,
        np.ascontiguousarray(hit_ix),
        np.ascontiguousarray(hit_iy),
        np.ascontiguousarray(cog_x),
        np.ascontiguousarray(cog_y),
        np.ascontiguousarray(profile.offset_edges_cm, dtype=np.float64),
        np.ascontiguousarray(profile.mean, dtype=np.float64),
        np.ascontiguousarray(np.maximum(profile.sigma, sigma_floor), dtype=np.float64),
        np.ascontiguousarray(usable),
        float(pitch_cm),
        np.float32(CHI2_NO_SHOWER),
    )


def shower_chi2_numpy(
    ecal_energy: np.ndarray,
    hit_ix: np.ndarray,
    hit_iy: np.ndarray,
    cog_x: np.ndarray,
    cog_y: np.ndarray,
    profile: ShowerProfile,
    pitch_cm: float,
    usable_cells: np.ndarray | None = None,
    sigma_floor: float = SIGMA_FLOOR,
) -> np.ndarray:
    """The numpy formulation of :func:`shower_chi2` (the reference of its kernel)."""
    cells = _cells(ecal_energy)
    _, nx, ny = cells.shape
    frac, ox, oy, tot = shower_fractions(cells, hit_ix, hit_iy, cog_x, cog_y, pitch_cm)
    edges = np.asarray(profile.offset_edges_cm)
    bx, by = _bin(ox, edges), _bin(oy, edges)
    mean = profile.mean[bx, by]
    sigma = np.maximum(profile.sigma[bx, by], sigma_floor)
    use = _usable3x3(usable_cells, (nx, ny), hit_ix, hit_iy)
    pull2 = np.where(use, ((frac - mean) / sigma) ** 2, 0.0)
    ndf = use.sum(axis=(1, 2))
    chi2 = pull2.sum(axis=(1, 2)) / np.maximum(ndf, 1)
    empty = (tot <= 0) | (np.asarray(hit_ix) < 0) | (ndf == 0)
    return np.where(empty, CHI2_NO_SHOWER, chi2).astype(np.float32)
