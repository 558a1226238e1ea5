"""Event generators, one per process of the process table, plus beam particles and pile-up.

Each generator fills an :class:`EventBatch` of ``n`` events in its generation region
(``na64reco.conditions.processes``); the trigger is applied afterwards by the caller. All are
vectorised: numpy over events, no Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import special, stats

from na64reco.conditions import beamline
from na64reco.conditions import processes as proc
from na64reco.conditions.periods import Geometry, RunPeriod
from na64reco.conditions.response import RESPONSE, Response
from na64reco.constants import (
    ELECTRON_MASS_GEV,
    MUON_MASS_GEV,
    PDG_ELECTRON,
    PDG_KAON,
    PDG_MUON,
    PDG_PION,
)
from na64reco.sim import showers
from na64reco.sim.batch import EventBatch
from na64reco.sim.deposits import Deposits
from na64reco.sim.srd import add_srd_fakes, add_synchrotron_radiation

BEAM_DIVERGENCE_RAD = 5e-5  # [choose] angular spread of the beam
TRACK_START_Z_M = -10.0  # the beam enters the spectrometer here [choose]
# Generation region of the em_shower tail: E_vis < threshold + margin. The margin covers what the
# trigger sum adds after the smearing (cell fluctuations 5% sqrt(E_cell), ~0.5 GeV at 90 GeV, and
# leakage): 1.5 GeV is 3 sigma of that.
EM_TAIL_MARGIN_GEV = 1.5
PHOTON_CONVERSION_DEPTH_X0 = 9.0 / 7.0  # mean conversion depth of a photon [PDG]
HADRON_SECONDARY_MOMENTUM_GEV = (0.5, 8.0)  # large-angle secondaries, log-uniform [choose]
SECONDARY_CONE_RAD = (0.02, 0.1)  # their polar angles [choose]
UPSTREAM_HCAL_FRACTION_MIN = 0.3  # see generate_upstream_interaction


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

    @property
    def geometry(self) -> Geometry:
        return self.period.geometry

    def rate(self, name: str, nominal: float) -> float:
        return nominal * self.rate_scale.get(name, 1.0)

    def boost(self, outcome: str) -> float:
        return self.importance.get(outcome, 1.0)

    @property
    def srd_fake_probability(self) -> float:
        return min(self.period.srd_hadron_fake_probability * self.boost("srd_fake"), 1.0)


# --- beam particles ---------------------------------------------------------------------------


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


def _beam_species(rng: np.random.Generator, n: int, period: RunPeriod) -> np.ndarray:
    """PDG id of n beam particles: e-, pi-/K- and mu- in the beam proportions."""
    f_h, f_mu = period.beam_hadron_fraction, period.beam_muon_fraction
    u = rng.random(n) * (1 + f_h + f_mu)
    kaon = rng.random(n) < period.beam_kaon_to_hadron
    return np.where(
        u < 1, PDG_ELECTRON, np.where(u < 1 + f_h, np.where(kaon, PDG_KAON, PDG_PION), PDG_MUON)
    )


def add_beam_particles(
    rng: np.random.Generator,
    batch: EventBatch,
    layer: Deposits,
    idx: np.ndarray,
    ctx: SimContext,
    t_ns: np.ndarray | float = 0.0,
    table_offset: np.ndarray | None = None,
) -> np.ndarray:
    """Unbiased beam particles (species by beam composition) into rows ``idx`` of ``layer``.

    Used for the prescaled beam trigger (in time) and for pile-up (at ``t_ns``). Returns the PDG
    ids and the energies. Electrons shower fully (a few come from the low-energy tail), hadrons
    interact in the ECAL with probability 1 - exp(-1.6) or cross it as MIPs, muons are MIPs.
    """
    n = len(idx)
    if n == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    p, g, r = ctx.period, ctx.geometry, ctx.response
    pdg = _beam_species(rng, n, p)
    energy = p.beam_energy_gev * (1 + p.beam_momentum_spread * rng.standard_normal(n))
    tail = (pdg == PDG_ELECTRON) & (rng.random(n) < p.beam_low_tail_fraction)
    energy[tail] = rng.uniform(*proc.LOW_ENERGY_TAIL_RANGE_GEV, int(tail.sum()))
    kin = beam_kinematics(rng, n, ctx, energy)
    x, y = impact_point(ctx, kin, energy)
    if table_offset is not None:  # a moved ECAL table (cell scan)
        x, y = x + table_offset[:, 0], y + table_offset[:, 1]
    add_beam_track(batch, idx, ctx, kin, energy, t_ns=np.broadcast_to(t_ns, (n,)))
    halo = rng.random(n) < r.v1_halo_probability
    showers.add_counters(rng, layer, idx, r, halo.astype(float))
    ele = pdg == PDG_ELECTRON
    showers.add_em_shower(rng, layer, idx[ele], energy[ele], x[ele], y[ele], g, r)
    add_synchrotron_radiation(rng, layer, idx[ele], energy[ele], r)
    had = (pdg == PDG_PION) | (pdg == PDG_KAON)
    depth = rng.exponential(1.0, n)
    inter = had & (depth < r.ecal_interaction_lengths)
    e_hcal = showers.add_hadron_shower_in_ecal(
        rng, layer, idx[inter], energy[inter], x[inter], y[inter], depth[inter], g, r
    )
    showers.add_hcal_shower(rng, layer, idx[inter], e_hcal, x[inter], y[inter], g, r)
    through = had & ~inter
    showers.add_mip_ecal(rng, layer, idx[through], x[through], y[through], g, r)
    showers.add_veto_mips(rng, layer, idx[through], x[through], np.ones(int(through.sum())), r)
    showers.add_hcal_shower(
        rng, layer, idx[through], energy[through] - 0.3, x[through], y[through], g, r
    )
    add_srd_fakes(rng, layer, idx[~ele], r, ctx.srd_fake_probability)
    mu = pdg == PDG_MUON
    showers.add_muon(rng, layer, idx[mu], energy[mu], x[mu], y[mu], g, r)
    return pdg, energy


def overlay_pileup(rng: np.random.Generator, batch: EventBatch, ctx: SimContext) -> None:
    """Extra beam particles within the read-out window, in the pile-up layer of each event."""
    n = len(batch)
    n_pu = rng.poisson(proc.pileup_mean(ctx.period), n)
    has = np.flatnonzero(n_pu > 0)
    window = ctx.response.readout_window_ns
    dt = rng.uniform(-window, window, len(has))
    batch.pileup_dt[has] = dt
    batch.truth["mc_n_pileup"][:] = np.minimum(n_pu, 255)
    # all pile-up particles of one event arrive together (see deposits.py)
    rows = np.repeat(has, n_pu[has])
    times = np.repeat(dt, n_pu[has])
    add_beam_particles(
        rng, batch, batch.pileup, rows, ctx, t_ns=times, table_offset=batch.table_offset[rows]
    )


# --- spectra -----------------------------------------------------------------------------------


def sample_inverse_y(rng: np.random.Generator, n: int, y_min: float, y_max: float = 1.0):
    """dN/dy ~ 1/y on [y_min, y_max]."""
    return y_min * (y_max / y_min) ** rng.random(n)


@lru_cache(maxsize=8)
def _brems_table(x_min: float):
    x = np.linspace(x_min, 1.0, 4000)
    pdf = (4.0 / 3.0 * (1 - x) + x**2) / x
    cdf = np.concatenate([[0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))])
    return cdf / cdf[-1], x


def sample_bremsstrahlung(rng: np.random.Generator, n: int, x_min: float) -> np.ndarray:
    """Photon energy fraction of complete-screening bremsstrahlung, (4/3 (1-x) + x^2) / x."""
    cdf, x = _brems_table(x_min)
    return np.interp(rng.random(n), cdf, x)


def sample_pair_sharing(rng: np.random.Generator, energy: np.ndarray, mass: float) -> np.ndarray:
    """Energy fraction of one lepton of a Bethe-Heitler pair: 1 - 4/3 z (1 - z) (by rejection)."""
    n = len(energy)
    z = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        zmin = np.minimum(mass / energy[todo], 0.49)
        cand = zmin + (1 - 2 * zmin) * rng.random(len(todo))
        ok = rng.random(len(todo)) * 1.0 < 1 - 4.0 / 3.0 * cand * (1 - cand)
        z[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return z


# --- background processes -----------------------------------------------------------------------


def _electron_event_common(rng, batch: EventBatch, ctx: SimContext, energy=None):
    """Beam e- of an e- initiated process: track, SR, counters; returns (kinematics, impact)."""
    n = len(batch)
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx, energy)
    x, y = impact_point(ctx, kin, kin["energy"])
    add_beam_track(batch, idx, ctx, kin, kin["energy"])
    halo = rng.random(n) < ctx.response.v1_halo_probability
    showers.add_counters(rng, batch.intime, idx, ctx.response, halo.astype(float))
    batch.truth["mc_beam_pdg"][:] = PDG_ELECTRON
    batch.truth["mc_beam_energy"][:] = kin["energy"]
    return kin, x, y


@lru_cache(maxsize=16)
def _em_tail_table(e0: float, spread: float, threshold: float, stochastic: float, constant: float):
    """Beam-energy grid, conditional CDF and total probability of E_vis < threshold."""
    from na64reco.sim.showers import CELL_FLUCTUATION

    a = np.sqrt(stochastic**2 - CELL_FLUCTUATION**2)
    eb = np.linspace(e0 * (1 - 8 * spread), e0 * (1 + 8 * spread), 1601)
    sigma = np.sqrt(a**2 / eb + constant**2)
    z_max = (threshold / eb - 1) / sigma
    weight = stats.norm.pdf(eb, e0, e0 * spread) * special.ndtr(z_max)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * np.diff(eb))])
    return eb, cdf / cdf[-1], cdf[-1]


def em_tail_rate(ctx: SimContext) -> float:
    """Probability per EOT that a full-energy shower is measured below the trigger threshold."""
    p, r = ctx.period, ctx.response
    *_, prob = _em_tail_table(
        p.beam_energy_gev,
        p.beam_momentum_spread,
        p.trigger.ecal_max_gev + EM_TAIL_MARGIN_GEV,
        r.ecal_stochastic,
        r.ecal_constant,
    )
    return ctx.rate("em_shower", prob)


def generate_em_shower(rng: np.random.Generator, n: int, ctx: SimContext) -> EventBatch:
    """Full-energy EM showers from the resolution tail below the trigger threshold."""
    p, r = ctx.period, ctx.response
    thr = p.trigger.ecal_max_gev + EM_TAIL_MARGIN_GEV
    eb_grid, cdf, _ = _em_tail_table(
        p.beam_energy_gev, p.beam_momentum_spread, thr, r.ecal_stochastic, r.ecal_constant
    )
    energy = np.interp(rng.random(n), cdf, eb_grid)
    from na64reco.sim.showers import CELL_FLUCTUATION

    a = np.sqrt(r.ecal_stochastic**2 - CELL_FLUCTUATION**2)
    z_max = (thr / energy - 1) / np.sqrt(a**2 / energy + r.ecal_constant**2)
    z = special.ndtri(rng.random(n) * special.ndtr(z_max))  # truncated normal below z_max
    batch = EventBatch.empty(n, proc.PROCESS_IDS["em_shower"])
    _, x, y = _electron_event_common(rng, batch, ctx, energy)
    idx = np.arange(n)
    showers.add_em_shower(rng, batch.intime, idx, energy, x, y, ctx.geometry, r, resolution_z=z)
    add_synchrotron_radiation(rng, batch.intime, idx, energy, r)
    return batch


def generate_hadron_electroproduction(rng, n: int, ctx: SimContext) -> EventBatch:
    """eA -> e + hadrons in the ECAL (region II)."""
    r, g = ctx.response, ctx.geometry
    batch = EventBatch.empty(n, proc.PROCESS_IDS["hadron_electroproduction"])
    kin, x, y = _electron_event_common(rng, batch, ctx)
    idx = np.arange(n)
    e = kin["energy"]
    add_synchrotron_radiation(rng, batch.intime, idx, e, r)
    yfrac = sample_inverse_y(rng, n, proc.HADRON_ELECTROPRODUCTION_YMIN)
    e_had = yfrac * e
    showers.add_em_shower(rng, batch.intime, idx, e - e_had, x, y, g, r)
    depth_x0 = rng.gamma(2.0, 1.5, n)  # the interacting photon is made early in the shower
    depth_lambda = np.minimum(depth_x0 / r.ecal_depth_x0 * r.ecal_interaction_lengths, 1.5)
    e_hcal = showers.add_hadron_shower_in_ecal(
        rng, batch.intime, idx, e_had, x, y, depth_lambda, g, r
    )
    punch = rng.random(n) < proc.PUNCH_THROUGH_PROBABILITY * ctx.boost("punch_through")
    showers.add_hcal_shower(
        rng, batch.intime, idx[~punch], e_hcal[~punch], x[~punch], y[~punch], g, r
    )
    batch.truth["mc_e_miss"][punch] = e_hcal[punch]
    return batch


def generate_dimuon(rng, n: int, ctx: SimContext) -> EventBatch:
    """e Z -> e Z gamma; gamma -> mu+ mu- (region I)."""
    r, g = ctx.response, ctx.geometry
    batch = EventBatch.empty(n, proc.PROCESS_IDS["dimuon"])
    kin, x, y = _electron_event_common(rng, batch, ctx)
    idx = np.arange(n)
    e = kin["energy"]
    add_synchrotron_radiation(rng, batch.intime, idx, e, r)
    x_gamma = sample_bremsstrahlung(rng, n, proc.DIMUON_XMIN)
    e_gamma = np.maximum(x_gamma * e, 2.2 * MUON_MASS_GEV)
    z = sample_pair_sharing(rng, e_gamma, MUON_MASS_GEV)
    showers.add_em_shower(rng, batch.intime, idx, e - e_gamma, x, y, g, r)
    for e_mu in (z * e_gamma, (1 - z) * e_gamma):
        showers.add_muon(rng, batch.intime, idx, e_mu, x, y, g, r)
    batch.truth["mc_n_muons"][:] = (z * e_gamma > 2.0).astype(int) + ((1 - z) * e_gamma > 2.0)
    return batch


def generate_beam_hadron(rng, n: int, ctx: SimContext) -> EventBatch:
    """Beam pi-/K- interacting in the PS (charge exchange or inelastic)."""
    r, g, p = ctx.response, ctx.geometry, ctx.period
    batch = EventBatch.empty(n, proc.PROCESS_IDS["beam_hadron"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    e = kin["energy"]
    x, y = impact_point(ctx, kin, e)
    add_beam_track(batch, idx, ctx, kin, e)
    halo = rng.random(n) < r.v1_halo_probability
    showers.add_counters(rng, batch.intime, idx, r, halo.astype(float))
    kaon = rng.random(n) < p.beam_kaon_to_hadron
    batch.truth["mc_beam_pdg"][:] = np.where(kaon, PDG_KAON, PDG_PION)
    batch.truth["mc_beam_energy"][:] = e
    add_srd_fakes(rng, batch.intime, idx, r, ctx.srd_fake_probability)
    ps_lambda = r.ecal_ps_depth_x0 / r.ecal_depth_x0 * r.ecal_interaction_lengths
    depth = rng.uniform(0, ps_lambda, n)
    cex = rng.random(n) < proc.CHARGE_EXCHANGE_FRACTION
    f_pi0 = rng.uniform(0.5, 1.0, n)
    showers.add_em_shower(
        rng,
        batch.intime,
        idx[cex],
        (f_pi0 * e)[cex],
        x[cex],
        y[cex],
        g,
        r,
        start_x0=depth[cex] / ps_lambda * r.ecal_ps_depth_x0,
    )
    showers.add_hcal_shower(
        rng, batch.intime, idx[cex], ((1 - f_pi0) * e)[cex], x[cex], y[cex], g, r
    )
    inel = ~cex
    e_hcal = showers.add_hadron_shower_in_ecal(
        rng, batch.intime, idx[inel], e[inel], x[inel], y[inel], depth[inel], g, r
    )
    showers.add_hcal_shower(rng, batch.intime, idx[inel], e_hcal, x[inel], y[inel], g, r)
    return batch


def generate_hadron_decay(rng, n: int, ctx: SimContext) -> EventBatch:
    """K_e3 and pi -> e nu decays in flight after the magnets; the neutrino escapes."""
    r, g, p = ctx.response, ctx.geometry, ctx.period
    batch = EventBatch.empty(n, proc.PROCESS_IDS["hadron_decay"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    e = kin["energy"]
    f_k = p.beam_kaon_to_hadron
    w_k = f_k / proc.KAON_DECAY_LENGTH_M * proc.KAON_E3_BR
    w_pi = (1 - f_k) / proc.PION_DECAY_LENGTH_M * proc.PION_ENU_BR
    kaon = rng.random(n) < w_k / (w_k + w_pi)
    batch.truth["mc_beam_pdg"][:] = np.where(kaon, PDG_KAON, PDG_PION)
    batch.truth["mc_beam_energy"][:] = e
    z_decay = rng.uniform(g.magnet_kick_z_m + 2.0, g.ecal_z_m - 0.5, n)
    add_beam_track(batch, idx, ctx, kin, e, z_end=z_decay)
    halo = rng.random(n) < r.v1_halo_probability
    showers.add_counters(rng, batch.intime, idx, r, halo.astype(float))
    add_srd_fakes(rng, batch.intime, idx, r, ctx.srd_fake_probability)
    # energy sharing: pi -> e nu is two-body (uniform lab fraction for massless products);
    # K_e3 approximated by Dirichlet(2, 2, 1.5) fractions for (e, pi0, nu) [choose]
    shares = rng.dirichlet((2.0, 2.0, 1.5), n)
    u = rng.random(n)
    f_e = np.where(kaon, shares[:, 0], u)
    f_pi0 = np.where(kaon, shares[:, 1], 0.0)
    f_nu = 1 - f_e - f_pi0
    x_dec, y_dec = impact_point(ctx, kin, e, z_m=z_decay)
    lever = (g.ecal_z_m - z_decay) * 100.0
    impacts = []
    for frac, mass_scale, tag in ((f_e, 0.2, 0), (f_pi0, 0.25, 1)):
        has = frac > 0
        theta = mass_scale / np.maximum(frac * e, 0.5)  # p_T ~ 0.2 GeV over the lab momentum
        phi = rng.uniform(0, 2 * np.pi, n)
        xs = x_dec + lever * theta * np.cos(phi)
        ys = y_dec + lever * theta * np.sin(phi)
        showers.add_em_shower(rng, batch.intime, idx[has], (frac * e)[has], xs[has], ys[has], g, r)
        impacts.append((xs, ys))
        if tag == 0:  # the decay electron is charged: it crosses the downstream trackers
            slope_down = kin["sx"] - beamline.deflection_rad(g, e)
            add_straight_segments(
                batch,
                ctx,
                idx,
                x_dec,
                y_dec,
                z_decay,
                slope_down + theta * np.cos(phi),
                kin["sy"] + theta * np.sin(phi),
                np.maximum(frac * e, 0.5),
            )
    separation = np.hypot(impacts[0][0] - impacts[1][0], impacts[0][1] - impacts[1][1])
    apart = (f_pi0 * e > 1.0) & (separation > g.ecal_cell_pitch_cm)
    batch.truth["mc_n_showers"][:] = 1 + apart
    batch.truth["mc_e_miss"][:] = f_nu * e
    return batch


def generate_upstream_interaction(rng, n: int, ctx: SimContext) -> EventBatch:
    """e- interactions in beam-line material before or after the magnets."""
    r, g = ctx.response, ctx.geometry
    batch = EventBatch.empty(n, proc.PROCESS_IDS["upstream_interaction"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    e = kin["energy"]
    batch.truth["mc_beam_pdg"][:] = PDG_ELECTRON
    yfrac = sample_inverse_y(rng, n, proc.UPSTREAM_YMIN)
    e_out = (1 - yfrac) * e
    after = rng.random(n) < proc.UPSTREAM_AFTER_MAGNETS_FRACTION
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
    showers.add_counters(rng, batch.intime, idx, r, halo.astype(float))
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
    seen = ~escape
    n_ch = np.where(seen, 1 + rng.poisson(proc.UPSTREAM_EXTRA_CHARGED_MEAN * yfrac * 2, n), 0)
    batch.truth["mc_n_extra_charged"][:] = np.minimum(n_ch, 255)
    xi, yi = impact_point(ctx, kin, p_mag, z_m=z_int)
    owner = np.repeat(idx, n_ch)
    add_secondaries(rng, batch, ctx, owner, xi[owner], yi[owner], z_int[owner])
    # a detected hadronic system also puts part of its energy into the HCAL (forward neutrals:
    # 30-100% [choose], i.e. above the 1 GeV zero threshold), some charged particles hit the
    # VETO; charged secondaries outside the trackers' acceptance then cannot fake a clean event
    f_hcal = np.where(seen, rng.uniform(UPSTREAM_HCAL_FRACTION_MIN, 1, n), 0.0)
    off_x = x + rng.normal(0, 15.0, n)
    off_y = y + rng.normal(0, 15.0, n)
    showers.add_hcal_shower(
        rng, batch.intime, idx[seen], (f_hcal * e_had)[seen], off_x[seen], off_y[seen], g, r
    )
    veto_mips = np.where(seen, rng.poisson(0.5, n), 0).astype(float)
    showers.add_veto_mips(rng, batch.intime, idx, off_x, veto_mips, r)
    batch.truth["mc_e_miss"][:] = np.where(escape, e_had, (1 - f_hcal) * e_had)
    return batch


def generate_beam_muon(rng, n: int, ctx: SimContext) -> EventBatch:
    """Beam mu- radiating a hard photon in the PS (mu Z -> mu Z gamma)."""
    r, g = ctx.response, ctx.geometry
    batch = EventBatch.empty(n, proc.PROCESS_IDS["beam_muon"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    e = kin["energy"]
    x, y = impact_point(ctx, kin, e)
    add_beam_track(batch, idx, ctx, kin, e)
    halo = rng.random(n) < r.v1_halo_probability
    showers.add_counters(rng, batch.intime, idx, r, halo.astype(float))
    add_srd_fakes(rng, batch.intime, idx, r, ctx.srd_fake_probability)
    batch.truth["mc_beam_pdg"][:] = PDG_MUON
    batch.truth["mc_beam_energy"][:] = e
    x_gamma = sample_bremsstrahlung(rng, n, 0.005)
    showers.add_em_shower(
        rng,
        batch.intime,
        idx,
        x_gamma * e,
        x,
        y,
        g,
        r,
        start_x0=rng.uniform(0, r.ecal_ps_depth_x0, n),
    )
    showers.add_muon(rng, batch.intime, idx, (1 - x_gamma) * e, x, y, g, r)
    batch.truth["mc_n_muons"][:] = 1
    return batch


def generate_low_energy_electron(rng, n: int, ctx: SimContext) -> EventBatch:
    """Electrons of the low-energy beam tail: deflected more, they land off the beam cell."""
    energy = rng.uniform(*proc.LOW_ENERGY_TAIL_RANGE_GEV, n)
    batch = EventBatch.empty(n, proc.PROCESS_IDS["low_energy_electron"])
    _, x, y = _electron_event_common(rng, batch, ctx, energy)
    idx = np.arange(n)
    showers.add_em_shower(rng, batch.intime, idx, energy, x, y, ctx.geometry, ctx.response)
    add_synchrotron_radiation(rng, batch.intime, idx, energy, ctx.response)
    return batch


BACKGROUND_GENERATORS = {
    "em_shower": generate_em_shower,
    "hadron_electroproduction": generate_hadron_electroproduction,
    "dimuon": generate_dimuon,
    "beam_hadron": generate_beam_hadron,
    "hadron_decay": generate_hadron_decay,
    "upstream_interaction": generate_upstream_interaction,
    "beam_muon": generate_beam_muon,
    "low_energy_electron": generate_low_energy_electron,
}


def background_rates(ctx: SimContext) -> dict[str, float]:
    """Rate per EOT of every background process in its generation region (scaled)."""
    table = proc.process_table(ctx.period)
    rates = {name: ctx.rate(name, row.rate_per_eot) for name, row in table.items()}
    rates["em_shower"] = em_tail_rate(ctx)
    return rates


# --- triggers without physics: beam, random ------------------------------------------------------


def generate_beam_trigger(rng, n: int, ctx: SimContext) -> EventBatch:
    """Prescaled unbiased beam triggers: one beam particle each, species by beam composition."""
    batch = EventBatch.empty(n, proc.PROCESS_IDS["em_shower"])
    idx = np.arange(n)
    pdg, energy = add_beam_particles(rng, batch, batch.intime, idx, ctx)
    batch.truth["mc_beam_pdg"][:] = pdg
    batch.truth["mc_process"][:] = np.where(pdg == PDG_ELECTRON, proc.PROCESS_IDS["em_shower"], 0)
    batch.truth["mc_process"][(pdg == PDG_PION) | (pdg == PDG_KAON)] = proc.PROCESS_IDS[
        "beam_hadron"
    ]
    batch.truth["mc_process"][pdg == PDG_MUON] = proc.PROCESS_IDS["beam_muon"]
    batch.truth["mc_beam_energy"][:] = energy
    batch.trigger_bits[:] = 2
    return batch


def generate_random_trigger(rng, n: int, ctx: SimContext) -> EventBatch:
    """Random (pedestal) triggers: no beam particle, only pile-up that happens to be there."""
    batch = EventBatch.empty(n, proc.PROCESS_IDS["random"])
    batch.truth["mc_n_showers"][:] = 0
    batch.trigger_bits[:] = 4
    return batch


__all__ = [
    "BACKGROUND_GENERATORS",
    "ELECTRON_MASS_GEV",
    "SimContext",
    "add_beam_particles",
    "background_rates",
    "beam_kinematics",
    "generate_beam_trigger",
    "generate_random_trigger",
    "impact_point",
    "overlay_pileup",
]
