"""What every generator shares: the simulation context and the beam particle's kinematics.

``SimContext`` carries the run period, the detector response, rate scale factors, importance
factors (validation only) and the calibration epoch of the simulated detector. The beam helpers
draw the energy, the position at the magnets' kick plane and the slopes of beam particles, the
impact point on the ECAL (``conditions.beamline`` track model) and the track segments that the
tracker simulation turns into hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from na64reco.conditions import beamline
from na64reco.conditions.periods import Geometry, RunPeriod
from na64reco.conditions.response import RESPONSE, Response
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.constants import PDG_ELECTRON
from na64reco.sim import mips, showers
from na64reco.sim.batch import EventBatch

BEAM_DIVERGENCE_RAD = 5e-5  # [choose] angular spread of the beam
TRACK_START_Z_M = -10.0  # the beam enters the spectrometer here [choose]
HADRON_SECONDARY_MOMENTUM_GEV = (0.5, 8.0)  # large-angle secondaries, log-uniform [choose]
SECONDARY_CONE_RAD = (0.02, 0.1)  # their polar angles [choose]


@dataclass(frozen=True)
class SimContext:
    """What a generator needs: the period, the detector response, rate scale factors."""

    period: RunPeriod
    response: Response = RESPONSE
    rate_scale: dict[str, float] = field(default_factory=dict)
    # Importance factors for rare outcomes (validation only): the probability of "escape"
    # (upstream secondaries all undetected) and "punch_through" is multiplied by the factor, and
    # an estimate weights each such event by 1/factor. Data files never use them.
    importance: dict[str, float] = field(default_factory=dict)
    # which draw of the true calibration the simulated detector has (SimRequest)
    calibration_epoch: int = 0
    # range (sigmas) of the em_shower generation bound; None: sim.em_tail.BOUND_SIGMAS. Wider
    # ranges cost more events for the same result (closure tests).
    em_bound_sigmas: float | None = None

    @property
    def geometry(self) -> Geometry:
        return self.period.geometry

    @property
    def constants(self) -> dict[str, dict[str, np.ndarray]]:
        """True calibration constants of the simulated detector (period, epoch)."""
        return true_calibration(self.period.name, self.calibration_epoch)

    def rate(self, name: str, nominal: float) -> float:
        return nominal * self.rate_scale.get(name, 1.0)

    def boost(self, outcome: str) -> float:
        return self.importance.get(outcome, 1.0)

    @property
    def srd_fake_probability(self) -> float:
        return min(self.period.srd_hadron_fake_probability * self.boost("srd_fake"), 1.0)


def beam_kinematics(rng: np.random.Generator, n: int, ctx: SimContext, energy=None) -> dict:
    """Energy, position at the kick plane and slopes of n beam particles."""
    p = ctx.period
    x0, y0, s0 = beamline.nominal_kick_point(ctx.geometry)
    if energy is None:
        energy = p.beam_energy_gev * (1 + p.beam_momentum_spread * rng.standard_normal(n))
    return {
        "energy": np.asarray(energy, dtype=float) * np.ones(n),
        "x_kick": x0 + p.beam_spot_sigma_cm * rng.standard_normal(n),
        "y_kick": y0 + p.beam_spot_sigma_cm * rng.standard_normal(n),
        "sx": s0 + BEAM_DIVERGENCE_RAD * rng.standard_normal(n),
        "sy": BEAM_DIVERGENCE_RAD * rng.standard_normal(n),
    }


def impact_point(ctx: SimContext, kin: dict, p_at_magnet: np.ndarray, z_m=None):
    """(x, y) in cm of the beam track at the ECAL face (or at z)."""
    z = ctx.geometry.ecal_z_m if z_m is None else z_m
    return beamline.position_at(
        ctx.geometry, z, kin["x_kick"], kin["y_kick"], kin["sx"], kin["sy"], p_at_magnet
    )


def add_beam_track(
    batch: EventBatch, idx, ctx: SimContext, kin: dict, p_at_magnet, t_ns=0.0, z_end=None
) -> None:
    z_end = ctx.geometry.ecal_z_m if z_end is None else z_end
    batch.add_segments(
        event=idx,
        x_kick_cm=kin["x_kick"],
        y_kick_cm=kin["y_kick"],
        slope_x_up=kin["sx"],
        slope_y=kin["sy"],
        p_at_magnet_gev=p_at_magnet,
        z_start_m=TRACK_START_Z_M,
        z_end_m=z_end,
        t_ns=t_ns,
    )


def electron_event_common(rng, batch: EventBatch, ctx: SimContext, energy=None, kin=None):
    """Beam e- of an e- initiated process: track, counters, truth; returns (kinematics, impact).

    ``kin``: kinematics drawn beforehand (``beam_kinematics``) instead of new ones.
    """
    n = len(batch)
    idx = np.arange(n)
    if kin is None:
        kin = beam_kinematics(rng, n, ctx, energy)
    x, y = impact_point(ctx, kin, kin["energy"])
    add_beam_track(batch, idx, ctx, kin, kin["energy"])
    halo = rng.random(n) < ctx.response.v1_halo_probability
    mips.add_counters(rng, batch.intime, idx, ctx.response, halo.astype(float))
    batch.truth["mc_beam_pdg"][:] = PDG_ELECTRON
    batch.truth["mc_beam_energy"][:] = kin["energy"]
    return kin, x, y


def add_secondaries(
    rng: np.random.Generator,
    batch: EventBatch,
    ctx: SimContext,
    event: np.ndarray,
    x_cm: np.ndarray,
    y_cm: np.ndarray,
    z_m: np.ndarray,
    t_ns=0.0,
) -> None:
    """Charged secondaries at large angle from (x, y, z) towards the ECAL (one row per particle)."""
    n = len(event)
    if n == 0:
        return
    lo, hi = HADRON_SECONDARY_MOMENTUM_GEV
    p = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    theta = rng.uniform(*SECONDARY_CONE_RAD, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sx, sy = theta * np.cos(phi), theta * np.sin(phi)
    add_straight_segments(batch, ctx, event, x_cm, y_cm, z_m, sx, sy, p, t_ns)


def add_straight_segments(
    batch: EventBatch, ctx: SimContext, event, x_cm, y_cm, z_m, sx, sy, p, t_ns=0.0
) -> None:
    """Tracks starting at (x, y, z) with slopes (sx, sy) there, expressed in the track model."""
    g = ctx.geometry
    kick = g.magnet_kick_z_m
    before = z_m < kick
    bend = beamline.deflection_rad(g, p)
    # the beamline model wants the position at the kick plane and the upstream x slope
    slope_x_up = np.where(before, sx, sx + bend)
    x_kick = x_cm + sx * (kick - z_m) * 100.0
    y_kick = y_cm + sy * (kick - z_m) * 100.0
    batch.add_segments(
        event=event,
        x_kick_cm=x_kick,
        y_kick_cm=y_kick,
        slope_x_up=slope_x_up,
        slope_y=sy,
        p_at_magnet_gev=p,
        z_start_m=z_m,
        z_end_m=g.ecal_z_m,
        t_ns=t_ns,
    )


def sample_inverse_y(rng: np.random.Generator, n: int, y_min: float, y_max: float = 1.0):
    """dN/dy ~ 1/y on [y_min, y_max]."""
    return y_min * (y_max / y_min) ** rng.random(n)


def impact_spread_cm(ctx: SimContext) -> float:
    """Sigma [cm] of a beam particle's impact point on the ECAL around the nominal one (per
    axis, fixed momentum): beam spot, divergence over the lever arm, shower-centroid jitter."""
    lever_cm = 100.0 * (ctx.geometry.ecal_z_m - ctx.geometry.magnet_kick_z_m)
    return float(
        np.sqrt(
            ctx.period.beam_spot_sigma_cm**2
            + (BEAM_DIVERGENCE_RAD * lever_cm) ** 2
            + showers.SHOWER_POSITION_JITTER_CM**2
        )
    )


def nominal_impact_cm(ctx: SimContext, p_gev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impact point on the ECAL of a beam particle on the nominal trajectory with momentum p."""
    x0, y0, s0 = beamline.nominal_kick_point(ctx.geometry)
    p = np.asarray(p_gev, dtype=float)
    x, y = beamline.position_at(ctx.geometry, ctx.geometry.ecal_z_m, x0, y0, s0, 0.0, p)
    return np.broadcast_to(x, p.shape).astype(float), np.broadcast_to(y, p.shape).astype(float)


__all__ = [
    "BEAM_DIVERGENCE_RAD",
    "HADRON_SECONDARY_MOMENTUM_GEV",
    "SECONDARY_CONE_RAD",
    "TRACK_START_Z_M",
    "SimContext",
    "add_beam_track",
    "add_secondaries",
    "add_straight_segments",
    "beam_kinematics",
    "electron_event_common",
    "impact_point",
    "impact_spread_cm",
    "nominal_impact_cm",
    "sample_inverse_y",
]
