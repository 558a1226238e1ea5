"""Beam-line geometry: straight tracks through the spectrometer, one thin-lens kick at the magnets.

Used by the simulation (tracker hits) and the reconstruction (the nominal trajectory the
tracking measures against), so it lives with the conditions.

Coordinates: x horizontal (bending plane), y vertical, z along the beam in metres; transverse
positions in cm in the ECAL frame (cell (ix, iy) centred at ((ix - 2.5) pitch, (iy - 2.5) pitch)).
The nominal trajectory (momentum ``Geometry.nominal_momentum_gev``, the beam energy) is
deflected by theta0 = 0.3 B L / p onto the centre of the beam cell and runs parallel to z after
the kick; upstream it arrives with slope +theta0 in x.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions.periods import Geometry
from na64reco.constants import MAGNETIC_RIGIDITY_GEV_PER_TESLA_M
from na64reco.eventtree.contract import ECAL_SHAPE


def deflection_rad(geometry: Geometry, p_gev: np.ndarray | float) -> np.ndarray:
    """Bending angle of a unit-charge particle of momentum p in the magnets."""
    return MAGNETIC_RIGIDITY_GEV_PER_TESLA_M * geometry.magnet_bl_tesla_m / np.asarray(p_gev)


def cell_centre_cm(geometry: Geometry, ix, iy) -> tuple[np.ndarray, np.ndarray]:
    """Centre of ECAL cell (ix, iy) in the ECAL frame."""
    pitch = geometry.ecal_cell_pitch_cm
    half_x = (ECAL_SHAPE[1] - 1) / 2
    half_y = (ECAL_SHAPE[2] - 1) / 2
    return (np.asarray(ix) - half_x) * pitch, (np.asarray(iy) - half_y) * pitch


def nominal_x_cm(geometry: Geometry, z_m: np.ndarray | float) -> np.ndarray:
    """x of the nominal trajectory at z (cm)."""
    x_cell, _ = cell_centre_cm(geometry, *geometry.beam_cell)
    theta0 = deflection_rad(geometry, geometry.nominal_momentum_gev)
    dz = np.minimum(np.asarray(z_m, dtype=float) - geometry.magnet_kick_z_m, 0.0)
    return x_cell + 100.0 * theta0 * dz


def nominal_y_cm(geometry: Geometry, z_m: np.ndarray | float) -> np.ndarray:
    """y of the nominal trajectory at z (cm): it stays at the beam cell's y."""
    _, y_cell = cell_centre_cm(geometry, *geometry.beam_cell)
    return np.broadcast_to(y_cell, np.shape(z_m)).astype(float)


def position_at(
    geometry: Geometry,
    z_m: np.ndarray | float,
    x_kick_cm: np.ndarray,
    y_kick_cm: np.ndarray,
    slope_x_up: np.ndarray,
    slope_y: np.ndarray,
    p_at_magnet_gev: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Position (cm) at z of tracks given by their position at the kick plane, slopes, momentum.

    Upstream of the kick the x slope is ``slope_x_up``; downstream it is
    ``slope_x_up - deflection(p)``. The y slope is unchanged.
    """
    dz = np.asarray(z_m, dtype=float) - geometry.magnet_kick_z_m
    slope_x = np.where(dz < 0, slope_x_up, slope_x_up - deflection_rad(geometry, p_at_magnet_gev))
    return x_kick_cm + 100.0 * slope_x * dz, y_kick_cm + 100.0 * slope_y * dz


def nominal_kick_point(geometry: Geometry) -> tuple[float, float, float]:
    """(x_kick_cm, y_kick_cm, slope_x_up) of the nominal trajectory."""
    x_cell, y_cell = cell_centre_cm(geometry, *geometry.beam_cell)
    return (
        float(x_cell),
        float(y_cell),
        float(deflection_rad(geometry, geometry.nominal_momentum_gev)),
    )
