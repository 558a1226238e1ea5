"""Event generators, one per process of the process table, plus beam particles and pile-up.

Each generator fills an :class:`EventBatch` of ``n`` events in its generation region
(``na64reco.conditions.processes``); the trigger is applied afterwards by the caller. The
exception is ``em_shower`` (``sim.em_tail``), which draws ``n`` beam electrons and returns the
part it keeps after thinning them by their trigger probability. All are vectorised: numpy over
events, no Python loop per event.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from na64reco.conditions import beamline
from na64reco.conditions import processes as proc
from na64reco.conditions.periods import RunPeriod
from na64reco.constants import (
    ELECTRON_MASS_GEV,
    MUON_MASS_GEV,
    PDG_ELECTRON,
    PDG_KAON,
    PDG_MUON,
    PDG_PION,
)
from na64reco.sim import mips, showers
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import (
    SimContext,
    add_beam_track,
    add_straight_segments,
    beam_kinematics,
    electron_event_common,
    impact_point,
    sample_inverse_y,
)
from na64reco.sim.deposits import Deposits
from na64reco.sim.em_tail import em_tail_rate, generate_em_shower
from na64reco.sim.srd import add_srd_fakes, add_synchrotron_radiation
from na64reco.sim.upstream import generate_upstream_interaction

PHOTON_CONVERSION_DEPTH_X0 = 9.0 / 7.0  # mean conversion depth of a photon [PDG]


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
    mips.add_counters(rng, layer, idx, r, halo.astype(float))
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
    mips.add_mip_ecal(rng, layer, idx[through], x[through], y[through], g, r)
    mips.add_veto_mips(rng, layer, idx[through], x[through], np.ones(int(through.sum())), r)
    showers.add_hcal_shower(
        rng, layer, idx[through], energy[through] - 0.3, x[through], y[through], g, r
    )
    add_srd_fakes(rng, layer, idx[~ele], r, ctx.srd_fake_probability)
    mu = pdg == PDG_MUON
    mips.add_muon(rng, layer, idx[mu], energy[mu], x[mu], y[mu], g, r)
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


def generate_hadron_electroproduction(rng, n: int, ctx: SimContext) -> EventBatch:
    """eA -> e + hadrons in the ECAL (region II)."""
    r, g = ctx.response, ctx.geometry
    batch = EventBatch.empty(n, proc.PROCESS_IDS["hadron_electroproduction"])
    kin, x, y = electron_event_common(rng, batch, ctx)
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
    kin, x, y = electron_event_common(rng, batch, ctx)
    idx = np.arange(n)
    e = kin["energy"]
    add_synchrotron_radiation(rng, batch.intime, idx, e, r)
    x_gamma = sample_bremsstrahlung(rng, n, proc.DIMUON_XMIN)
    e_gamma = np.maximum(x_gamma * e, 2.2 * MUON_MASS_GEV)
    z = sample_pair_sharing(rng, e_gamma, MUON_MASS_GEV)
    showers.add_em_shower(rng, batch.intime, idx, e - e_gamma, x, y, g, r)
    for e_mu in (z * e_gamma, (1 - z) * e_gamma):
        mips.add_muon(rng, batch.intime, idx, e_mu, x, y, g, r)
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
    mips.add_counters(rng, batch.intime, idx, r, halo.astype(float))
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
    mips.add_counters(rng, batch.intime, idx, r, halo.astype(float))
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
    mips.add_counters(rng, batch.intime, idx, r, halo.astype(float))
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
    mips.add_muon(rng, batch.intime, idx, (1 - x_gamma) * e, x, y, g, r)
    batch.truth["mc_n_muons"][:] = 1
    return batch


def generate_low_energy_electron(rng, n: int, ctx: SimContext) -> EventBatch:
    """Electrons of the low-energy beam tail: deflected more, they land off the beam cell."""
    energy = rng.uniform(*proc.LOW_ENERGY_TAIL_RANGE_GEV, n)
    batch = EventBatch.empty(n, proc.PROCESS_IDS["low_energy_electron"])
    _, x, y = electron_event_common(rng, batch, ctx, energy)
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
