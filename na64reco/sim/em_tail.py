"""The em_shower process: full-energy EM showers of beam electrons, drawn conditioned on the
physics trigger as it fires.

A beam electron of energy E_b showers with visible energy E_v = E_b (1 + sigma(E_b) z)
(``showers.em_resolution``; z standard normal), of which the fraction C lands in the channels
that give a signal (``showers.em_containment``: lateral and longitudinal leakage, dead and
absent cells; exact because the cell fluctuations keep each section's sum). The trigger's
ECAL term is E_v C + (pile-up in the gate) + n < E_th, with n the analogue-sum noise
(``hardware.sum_noise_sigmas``). ADC saturation does not enter: the trigger sums the analogue
signal.

Instead of a fixed region (formerly E_v < E_th + 1.5 GeV, which missed the showers that fire
through a negative noise or leakage fluctuation), every beam electron is a candidate and the
draw is thinned by an upper bound of its trigger probability:

    bound(E_b, E_v) = 1                                  if E_v C_min(E_b) < E_th
                      Phi((E_th - E_v C_min(E_b)) / sigma_n)  otherwise,

with C_min(E_b) a lower bound of C for showers centred within ``BOUND_SIGMAS`` of the impact
spread around the nominal impact point of momentum E_b and with a longitudinal shape within
``BOUND_SIGMAS`` of its spread (``showers.em_containment_bound``), and
sigma_n the exact noise sigma of the period's ECAL sum. Beam electrons are drawn from
N(E_b; E0, dE0) N(E_v; E_b, E_b sigma(E_b)) x bound (a table on a 0.01 GeV grid in E_b and E_v);
their impact point and shower shape are drawn next, which gives their exact containment C and
the exact bound (C_min -> C); each is kept with exact / table bound and only the kept ones are
generated in full. They carry the exact bound as ``trigger_prior``: the hardware keeps them with
P(pass) / bound, which is <= 1 where the bound holds, and draws their noise conditioned on
passing (``hardware.analogue_trigger``). The recorded events are then those of a complete,
unthinned draw; the rate is the integral of the table. A shower centred outside the bound's
radius (probability exp(-BOUND_SIGMAS^2 / 2) = 4e-6 per drawn electron) or with a more extreme
shape may break it: the hardware counts such events (``bound_violations`` in the run summary,
none in the tests), and widening the range (``SimContext.em_bound_sigmas``) checks closure.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from na64reco.conditions import processes as proc
from na64reco.conditions.periods import RunPeriod
from na64reco.conditions.response import Response
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.sim import showers
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import (
    SimContext,
    beam_kinematics,
    electron_event_common,
    impact_point,
    impact_spread_cm,
    nominal_impact_cm,
)
from na64reco.sim.hardware import BOUND_TOLERANCE, signal_channels, sum_noise_sigmas
from na64reco.sim.srd import add_synchrotron_radiation

# [choose] impact-point and shower-shape range (in sigmas) the containment bound covers: a beam
# electron outside it (P = exp(-25 / 2) = 4e-6 for the position) may break the bound; the
# closure test widens it to 7 (tests/test_sim_em_tail.py)
BOUND_SIGMAS = 5.0
BEAM_SIGMAS = 9.0  # beam-energy range of the table (+- 9 sigma of the momentum spread)
RESOLUTION_SIGMAS = 12.0  # lower end of the visible-energy grid, in total sigmas below E0
NOISE_SIGMAS = 10.0  # upper end: bound < Phi(-10) = 8e-24 beyond
GRID_GEV = 0.01  # step of the E_b and E_v grids
COARSE_POINTS = 41  # beam energies at which the containment bound is computed


def _sigma_abs(e_b: np.ndarray, resp: Response) -> np.ndarray:
    return e_b * showers.em_resolution(e_b, resp)


def _bound_sigmas(ctx: SimContext) -> float:
    return BOUND_SIGMAS if ctx.em_bound_sigmas is None else float(ctx.em_bound_sigmas)


@lru_cache(maxsize=8)
def _tail_table(period: RunPeriod, resp: Response, epoch: int, bound_sigmas: float) -> dict:
    constants = true_calibration(period.name, epoch)
    ctx = SimContext(period, response=resp, calibration_epoch=epoch)
    if bound_sigmas <= 0:
        raise ValueError(f"the em_shower bound needs a positive range, not {bound_sigmas}")
    thr = period.trigger.ecal_max_gev
    e0 = period.beam_energy_gev
    s_b = e0 * period.beam_momentum_spread
    sigma_n = float(sum_noise_sigmas(constants)["ecal"])
    usable = signal_channels(constants["ecal"])
    eb = e0 + s_b * np.arange(-BEAM_SIGMAS, BEAM_SIGMAS + 1e-9, GRID_GEV / s_b)
    sigma_tot = float(np.hypot(_sigma_abs(np.array(e0), resp), s_b))
    # containment bound on a coarse grid of beam energies; the radius grows by the impact
    # point's movement between two coarse points, and each fine E_b takes the smaller neighbour
    coarse = np.linspace(eb[0], eb[-1], COARSE_POINTS)
    cx, cy = nominal_impact_cm(ctx, coarse)
    step = float(np.max(np.hypot(np.diff(cx), np.diff(cy))))
    radius = bound_sigmas * impact_spread_cm(ctx) + step
    e_range = (e0 - RESOLUTION_SIGMAS * sigma_tot, e0 + BEAM_SIGMAS * s_b + 3 * sigma_tot)
    c_coarse = np.array(
        [
            showers.em_containment_bound(
                (x, y), radius, e_range, usable, period.geometry, resp, bound_sigmas
            )
            for x, y in zip(cx, cy, strict=True)
        ]
    )
    dead_margin = _dead_cell_margin(ctx, usable, thr, bound_sigmas)
    c_coarse -= dead_margin / thr
    pos = np.interp(eb, coarse, np.arange(COARSE_POINTS))
    c_min = np.minimum(c_coarse[np.floor(pos).astype(int)], c_coarse[np.ceil(pos).astype(int)])
    lo = e0 - RESOLUTION_SIGMAS * sigma_tot
    hi = (thr + NOISE_SIGMAS * sigma_n) / c_coarse.min()
    ev = np.arange(lo, hi + GRID_GEV, GRID_GEV)
    bound = _bound(ev[None, :], c_min[:, None], thr, sigma_n)
    sab = _sigma_abs(eb, resp)[:, None]
    dens = np.exp(-0.5 * ((ev[None, :] - eb[:, None]) / sab) ** 2) / (np.sqrt(2 * np.pi) * sab)
    dens *= bound
    row_cdf = np.concatenate(
        [np.zeros((len(eb), 1)), np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * GRID_GEV, axis=1)],
        axis=1,
    )
    row_mass = row_cdf[:, -1]
    beam = np.exp(-0.5 * ((eb - e0) / s_b) ** 2) / (np.sqrt(2 * np.pi) * s_b)
    marginal = beam * row_mass
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (marginal[1:] + marginal[:-1]) * GRID_GEV)])
    return {
        "eb": eb,
        "ev": ev,
        "eb_cdf": cdf / cdf[-1],
        "row_cdf": row_cdf / np.where(row_mass > 0, row_mass, 1.0)[:, None],
        "rate": float(cdf[-1]),
        "c_min": c_min,
        "sigma_n": sigma_n,
        "threshold": thr,
        "dead_margin_gev": dead_margin,
    }


def _bound(ev, c_min, thr: float, sigma_n: float):
    """Upper bound of the ECAL-term probability of a shower of visible energy ``ev``."""
    measured = ev * c_min
    return np.where(measured < thr, 1.0, special.ndtr((thr - measured) / sigma_n))


def _dead_cell_margin(ctx: SimContext, usable: np.ndarray, thr: float, n_sigma: float) -> float:
    """Energy [GeV] the cell fluctuations can move into dead cells (at most) for a shower at
    the threshold: the fluctuation, ``n_sigma`` deep, of the largest dead-cell share over the
    beam spot. ``em_containment`` is the expectation over those fluctuations."""
    instrumented = np.zeros_like(usable)
    instrumented[:, : ctx.geometry.ecal_nx] = True
    dead = instrumented & ~usable
    if not dead.any():
        return 0.0
    x, y = nominal_impact_cm(ctx, np.array([ctx.period.beam_energy_gev]))
    r = ctx.response
    f = showers.em_containment(x, y, np.ones(1), np.zeros(1), dead, ctx.geometry, r)[0]
    f = max(f, showers.em_containment(x, y, np.zeros(1), np.zeros(1), dead, ctx.geometry, r)[0])
    dead_gev = max(3 * f * thr, 1e-3)  # x3: the dead cells' share anywhere in the spot
    return float(n_sigma * showers.CELL_FLUCTUATION * np.sqrt(dead_gev) + 0.01 * dead_gev)


def em_tail_rate(ctx: SimContext) -> float:
    """Beam electrons per EOT drawn by ``generate_em_shower`` (the bound integrated over the
    beam-energy and resolution distributions): a few times the rate the trigger accepts."""
    table = _tail_table(ctx.period, ctx.response, ctx.calibration_epoch, _bound_sigmas(ctx))
    return ctx.rate("em_shower", table["rate"])


def sample_tail(rng: np.random.Generator, n: int, ctx: SimContext) -> dict[str, np.ndarray]:
    """Beam energy, resolution deviation z and trigger bound of n thinned beam electrons."""
    t = _tail_table(ctx.period, ctx.response, ctx.calibration_epoch, _bound_sigmas(ctx))
    eb_grid, ev_grid = t["eb"], t["ev"]
    row = np.clip(
        np.rint(np.interp(rng.random(n), t["eb_cdf"], np.arange(len(eb_grid)))).astype(int),
        0,
        len(eb_grid) - 1,
    )
    u = rng.random(n)
    e_v = np.empty(n)
    for r in np.unique(row):  # a loop over table rows (a few hundred), not over events
        sel = row == r
        e_v[sel] = np.interp(u[sel], t["row_cdf"][r], ev_grid)
    # the beam energy within its 0.01 GeV row; the conditional of E_v is the row's
    e_b = eb_grid[row] + GRID_GEV * (rng.random(n) - 0.5)
    z = (e_v / e_b - 1.0) / showers.em_resolution(e_b, ctx.response)
    prior = _bound(e_v, t["c_min"][row], t["threshold"], t["sigma_n"])
    return {"energy": e_b, "z": z, "visible": e_v, "prior": prior}


def generate_em_shower(rng: np.random.Generator, n: int, ctx: SimContext) -> EventBatch:
    """Full-energy EM showers from n drawn beam electrons of the thinned draw (module
    docstring): each is kept with its exact bound / the table's bound once its profile (impact
    point, shape) is known, and only the kept ones are generated in full (``trigger_prior`` =
    the exact bound)."""
    r = ctx.response
    t = _tail_table(ctx.period, r, ctx.calibration_epoch, _bound_sigmas(ctx))
    tail = sample_tail(rng, n, ctx)
    energy = tail["energy"]
    kin = beam_kinematics(rng, n, ctx, energy)
    x, y = impact_point(ctx, kin, energy)
    profile = showers.em_profile(rng, energy, x, y, r, resolution_z=tail["z"])
    usable = signal_channels(ctx.constants["ecal"])
    containment = showers.em_containment(
        profile.x, profile.y, profile.f_ps, profile.f_leak, usable, ctx.geometry, r
    )
    measured = profile.visible * containment - t["dead_margin_gev"]
    exact = _bound(measured, 1.0, t["threshold"], t["sigma_n"])
    violations = int(np.count_nonzero(exact > tail["prior"] * (1 + BOUND_TOLERANCE)))
    keep = np.flatnonzero(rng.random(n) * tail["prior"] < exact)
    batch = EventBatch.empty(len(keep), proc.PROCESS_IDS["em_shower"])
    batch.bound_violations = violations
    if len(keep) == 0:
        return batch
    kin = {k: v[keep] for k, v in kin.items()}
    electron_event_common(rng, batch, ctx, kin=kin)
    idx = np.arange(len(keep))
    showers.deposit_em_shower(rng, batch.intime, idx, profile.take(keep), ctx.geometry, r)
    add_synchrotron_radiation(rng, batch.intime, idx, energy[keep], r)
    batch.trigger_prior[:] = exact[keep]
    return batch


__all__ = ["BOUND_SIGMAS", "em_tail_rate", "generate_em_shower", "sample_tail"]
