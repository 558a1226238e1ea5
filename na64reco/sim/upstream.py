"""e- interactions in the beam-line material in front of the ECAL (process upstream_interaction).

An electron interacts in the material of its setup's beam line (``conditions.upstream``), before
or after the magnets in proportion to the material there: a hadronic system takes y E0
(dN/dy ~ 1/y, y > ``UPSTREAM_YMIN``), the degraded electron (1 - y) E0 reaches the ECAL (bent
by the magnets according to its momentum when it interacted before them, measured at that
momentum by the spectrometer).

Almost always the secondaries are seen: charged ones cross the trackers (1 + Poisson(2.5 x 2y)
of them at 0.02-0.1 rad), some hit the VETO, and the forward neutrals deposit part of y E0 in an
HCAL: in the in-line HCAL after the magnets, in the zero-degree HCAL3 (2021-2022 [paper 001])
before them, where they travel on the undeflected beam line (nowhere in 2016-2018: that line
passes ~37 cm beside the in-line HCAL). With probability ``UPSTREAM_ESCAPE_PROB`` (y / 0.5)
exp(-y E0 / ``UPSTREAM_ESCAPE_SCALE_GEV``) every secondary leaves at large angle undetected: the
background. A zero-degree HCAL3 still catches such an escaping system when one of its neutral
hadrons (1 + Poisson(``ESCAPE_NEUTRALS_MEAN``), directions in the same cone) crosses the part of
HCAL3 beside the in-line modules (``escape_seen_by_zero_degree_hcal``).
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import beamline
from na64reco.conditions import processes as proc
from na64reco.conditions.upstream import beam_line
from na64reco.constants import PDG_ELECTRON
from na64reco.eventtree.contract import HCAL_SHAPE
from na64reco.sim import mips, showers
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import (
    SECONDARY_CONE_RAD,
    TRACK_START_Z_M,
    SimContext,
    add_beam_track,
    add_secondaries,
    beam_kinematics,
    impact_point,
    sample_inverse_y,
)
from na64reco.sim.srd import add_synchrotron_radiation

UPSTREAM_HCAL_FRACTION_MIN = 0.3  # a seen system puts 30-100% of y E0 into an HCAL [choose]
ESCAPE_NEUTRALS_MEAN = 1.0  # neutral hadrons of an escaping system: 1 + Poisson(1) [choose]
ZERO_DEGREE_MODULE = HCAL_SHAPE[0] - 1  # HCAL3
# The largest importance factor of the escape probability that keeps it below 1 (validation
# only): the probability is largest at the smallest y, (y / 0.5) exp(-y E0 / scale) falling for
# y > scale / E0 = 0.08; 10% margin for the beam-energy spread.
MAX_ESCAPE_BOOST = 0.9 / (
    proc.UPSTREAM_ESCAPE_PROB
    * (proc.UPSTREAM_YMIN / 0.5)
    * np.exp(-proc.UPSTREAM_YMIN * 100.0 / proc.UPSTREAM_ESCAPE_SCALE_GEV)
)


def zero_degree_offset_cm(ctx: SimContext) -> float:
    """x of the undeflected beam line relative to the beam cell at the HCAL face [cm]."""
    g = ctx.geometry
    theta0 = float(beamline.deflection_rad(g, g.nominal_momentum_gev))
    return 100.0 * theta0 * (g.hcal_z_m - g.magnet_kick_z_m)


def _hcal3_window(ctx: SimContext) -> tuple[float, float, float]:
    """(x_lo, x_hi, y_half) [cm, relative to the beam cell] of the part of a zero-degree HCAL3
    (a 60 x 60 cm module centred on the undeflected line) beside the in-line modules."""
    g = ctx.geometry
    half = HCAL_SHAPE[1] * g.hcal_cell_pitch_cm / 2
    x0 = zero_degree_offset_cm(ctx)
    return max(half, x0 - half), x0 + half, half


def escape_seen_by_zero_degree_hcal(
    rng: np.random.Generator, ctx: SimContext, x_rel_cm: np.ndarray, y_rel_cm: np.ndarray, z_m
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For escaping systems from (x, y, z) (relative to the beam cell axis): whether a neutral
    hadron hits HCAL3, and the (x, y) of the first one that does (relative to HCAL3's centre)."""
    n = len(x_rel_cm)
    k = 1 + rng.poisson(ESCAPE_NEUTRALS_MEAN, n)
    owner = np.repeat(np.arange(n), k)
    theta = rng.uniform(*SECONDARY_CONE_RAD, len(owner))
    phi = rng.uniform(0, 2 * np.pi, len(owner))
    lever = 100.0 * (ctx.geometry.hcal_z_m - np.asarray(z_m)[owner])
    hx = x_rel_cm[owner] + lever * theta * np.cos(phi)
    hy = y_rel_cm[owner] + lever * theta * np.sin(phi)
    lo, hi, half = _hcal3_window(ctx)
    hit = (hx > lo) & (hx < hi) & (np.abs(hy) < half)
    seen = np.zeros(n, dtype=bool)
    seen[owner[hit]] = True
    first = np.full(n, -1)
    first[owner[hit][::-1]] = np.flatnonzero(hit)[::-1]
    x0 = zero_degree_offset_cm(ctx)
    return seen, np.where(seen, hx[first] - x0, 0.0), np.where(seen, hy[first], 0.0)


def _add_zero_degree_hcal(rng, layer, idx, energy, x_cm, y_cm, ctx: SimContext) -> None:
    """Neutral energy into the zero-degree HCAL3 at (x, y) relative to its centre."""
    if len(idx) == 0:
        return
    r, g = ctx.response, ctx.geometry
    e = np.asarray(energy, dtype=float)
    sigma = r.hcal_stochastic / np.sqrt(np.maximum(e, 0.1))
    visible = np.clip(e * (1 + sigma * rng.standard_normal(len(e))), 0.0, None)
    lat = showers.cell_fractions(
        np.asarray(x_cm, dtype=float),
        np.asarray(y_cm, dtype=float),
        HCAL_SHAPE[1],
        HCAL_SHAPE[2],
        g.hcal_cell_pitch_cm,
        r.hcal_lateral_core_fraction,
        showers.HCAL_LATERAL_WIDTH_CM,
        3 * showers.HCAL_LATERAL_WIDTH_CM,
    )
    lat /= np.maximum(lat.sum(axis=(1, 2), keepdims=True), 1e-12)
    np.add.at(layer.hcal, (idx, ZERO_DEGREE_MODULE), visible[:, None, None] * lat)


def upstream_rate(ctx: SimContext) -> float:
    """Interactions (y > UPSTREAM_YMIN) per EOT in the period's beam line."""
    return beam_line(ctx.period).interaction_rate(proc.UPSTREAM_YMIN)


def generate_upstream_interaction(rng, n: int, ctx: SimContext) -> EventBatch:
    """e- interactions in beam-line material before or after the magnets (module docstring)."""
    r, g = ctx.response, ctx.geometry
    line = beam_line(ctx.period)
    batch = EventBatch.empty(n, proc.PROCESS_IDS["upstream_interaction"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    e = kin["energy"]
    batch.truth["mc_beam_pdg"][:] = PDG_ELECTRON
    yfrac = sample_inverse_y(rng, n, proc.UPSTREAM_YMIN)
    e_out = (1 - yfrac) * e
    after = rng.random(n) < line.after_fraction
    kick = g.magnet_kick_z_m
    z_int = np.where(
        after,
        rng.uniform(kick + 1.0, g.ecal_z_m - 1.0, n),
        rng.uniform(TRACK_START_Z_M + 1.0, kick - 0.5, n),
    )
    p_mag = np.where(after, e, e_out)
    batch.truth["mc_beam_energy"][:] = p_mag  # what the spectrometer measures
    x, y = impact_point(ctx, kin, p_mag)
    add_beam_track(batch, idx, ctx, kin, p_mag)
    halo = rng.random(n) < r.v1_halo_probability
    mips.add_counters(rng, batch.intime, idx, r, halo.astype(float))
    add_synchrotron_radiation(rng, batch.intime, idx, p_mag, r)
    showers.add_em_shower(rng, batch.intime, idx, e_out, x, y, g, r)
    e_had = yfrac * e
    p_escape = np.minimum(
        proc.UPSTREAM_ESCAPE_PROB
        * ctx.boost("escape")
        * (yfrac / 0.5)
        * np.exp(-e_had / proc.UPSTREAM_ESCAPE_SCALE_GEV),
        1.0,
    )
    escape = rng.random(n) < p_escape
    xi, yi = impact_point(ctx, kin, p_mag, z_m=z_int)
    cx, cy = beamline.cell_centre_cm(g, *g.beam_cell)
    e_miss = np.where(escape, e_had, 0.0)
    if line.zero_degree_hcal:  # an escaping system after the magnets may still hit HCAL3
        cand = np.flatnonzero(escape & after)
        hit, hx, hy = escape_seen_by_zero_degree_hcal(
            rng, ctx, xi[cand] - cx, yi[cand] - cy, z_int[cand]
        )
        caught = cand[hit]
        share = e_had[caught] / 2  # ~ one of the neutral hadrons' share
        _add_zero_degree_hcal(rng, batch.intime, caught, share, hx[hit], hy[hit], ctx)
        e_miss[caught] -= share
    seen = ~escape
    n_ch = np.where(seen, 1 + rng.poisson(proc.UPSTREAM_EXTRA_CHARGED_MEAN * yfrac * 2, n), 0)
    batch.truth["mc_n_extra_charged"][:] = np.minimum(n_ch, 255)
    owner = np.repeat(idx, n_ch)
    add_secondaries(rng, batch, ctx, owner, xi[owner], yi[owner], z_int[owner])
    # a seen system also puts part of its energy into an HCAL (forward neutrals, above the 1 GeV
    # zero threshold) and some charged particles into the VETO: after the magnets into the
    # in-line HCAL, before them along the undeflected line, into HCAL3 where there is one
    f_hcal = np.where(seen, rng.uniform(UPSTREAM_HCAL_FRACTION_MIN, 1, n), 0.0)
    off_x = x + rng.normal(0, 15.0, n)
    off_y = y + rng.normal(0, 15.0, n)
    inline = seen & after
    showers.add_hcal_shower(
        rng, batch.intime, idx[inline], (f_hcal * e_had)[inline], off_x[inline], off_y[inline], g, r
    )
    forward = seen & ~after
    if line.zero_degree_hcal:
        spread = rng.normal(0, 5.0, (2, int(forward.sum())))
        _add_zero_degree_hcal(
            rng, batch.intime, idx[forward], (f_hcal * e_had)[forward], *spread, ctx
        )
    lost = forward & (not line.zero_degree_hcal)
    e_miss += np.where(seen, (1 - f_hcal) * e_had, 0.0) + np.where(lost, f_hcal * e_had, 0.0)
    veto_mips = np.where(seen, rng.poisson(0.5, n), 0).astype(float)
    mips.add_veto_mips(rng, batch.intime, idx, off_x, veto_mips, r)
    batch.truth["mc_e_miss"][:] = e_miss
    return batch


__all__ = [
    "ESCAPE_NEUTRALS_MEAN",
    "MAX_ESCAPE_BOOST",
    "escape_seen_by_zero_degree_hcal",
    "generate_upstream_interaction",
    "upstream_rate",
    "zero_degree_offset_cm",
]
