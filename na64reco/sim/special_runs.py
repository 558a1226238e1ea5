"""Signal samples and calibration runs: generators of whole events for non-physics streams.

* Signal: e Z -> e Z X, X -> invisible (models of ``na64reco.physics``). The emission point and
  energies come from ``sample_signal_emission``: the beam e- radiates ``E0 - E_e`` in photons
  before the emission (they shower from the ECAL front), emits X with ``x E_e`` at ``depth_x0`` and
  the scattered e- (``(1 - x) E_e``) showers from there. For phi (e Z -> mu Z phi) the e- turns
  into a muon of ``muon_energy`` that crosses the HCAL as a MIP.
* ECAL cell scan: 100 GeV e- aimed at each instrumented cell in turn (the table moves the ECAL),
  calibration trigger (bit 8).
* Muon runs: beam muons spread uniformly over the HCAL face, through all four HCAL modules (the
  zero-degree HCAL3 of 2021-2022 is calibrated in the muon beam too), calibration trigger.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import beamline
from na64reco.conditions import processes as proc
from na64reco.constants import PDG_ELECTRON, PDG_MUON
from na64reco.eventtree.contract import ECAL_SHAPE, HCAL_SHAPE, TRIGGER_CALIBRATION
from na64reco.sim import mips, showers
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import (
    SimContext,
    add_beam_track,
    beam_kinematics,
    electron_event_common,
)
from na64reco.sim.srd import add_synchrotron_radiation

SIGNAL_MODELS = ("aprime", "scalar", "pseudoscalar", "vector", "axial", "zprime", "phi")
# CLI model names -> emission models of na64reco.physics (the A' is a vector boson)
PHYSICS_MODEL = {
    "aprime": "vector",
    "zprime": "zprime",
    "phi": "phi",
    "scalar": "scalar",
    "pseudoscalar": "pseudoscalar",
    "vector": "vector",
    "axial": "axial",
}


def generate_signal(
    rng: np.random.Generator, n: int, ctx: SimContext, model: str, mass_gev: float
) -> EventBatch:
    """n signal events of ``model`` with boson mass ``mass_gev``."""
    from na64reco.physics.sampling import sample_signal_emission

    if model not in SIGNAL_MODELS:
        raise ValueError(f"unknown signal model {model!r}; known: {', '.join(SIGNAL_MODELS)}")
    r, g = ctx.response, ctx.geometry
    emission = sample_signal_emission(
        rng,
        n,
        PHYSICS_MODEL[model],
        mass_gev,
        beam_energy_gev=ctx.period.beam_energy_gev,
        target_depth_x0=r.ecal_depth_x0,
    )
    batch = EventBatch.empty(n, proc.PROCESS_IDS["signal"])
    kin, x, y = electron_event_common(rng, batch, ctx)
    idx = np.arange(n)
    e0 = kin["energy"]
    add_synchrotron_radiation(rng, batch.intime, idx, e0, r)
    # the sampler works at the nominal beam energy; rescale to this event's beam energy
    scale = e0 / ctx.period.beam_energy_gev
    e_emit = emission["emitter_energy"] * scale
    e_boson = emission["boson_energy"] * scale
    depth = emission["depth_x0"]
    showers.add_em_shower(rng, batch.intime, idx, e0 - e_emit, x, y, g, r)
    if model == "phi":
        e_mu = emission["muon_energy"] * scale
        mips.add_muon(rng, batch.intime, idx, e_mu, x, y, g, r)
        batch.truth["mc_n_muons"][:] = 1
    else:
        showers.add_em_shower(rng, batch.intime, idx, e_emit - e_boson, x, y, g, r, start_x0=depth)
    batch.truth["mc_e_miss"][:] = e_boson
    batch.truth["mc_signal_mass"][:] = mass_gev
    return batch


def generate_ecal_scan(rng: np.random.Generator, n: int, ctx: SimContext) -> EventBatch:
    """100 GeV e- into every instrumented ECAL cell in turn (n events in all, equal shares)."""
    g, r = ctx.geometry, ctx.response
    batch = EventBatch.empty(n, proc.PROCESS_IDS["calib_ecal_scan"])
    kin, _, _ = electron_event_common(rng, batch, ctx)
    idx = np.arange(n)
    cells = [(ix, iy) for ix in range(g.ecal_nx) for iy in range(ECAL_SHAPE[2])]
    which = np.arange(n) * len(cells) // max(n, 1)
    cx, cy = beamline.cell_centre_cm(g, *np.array(cells).T)
    spot = ctx.period.beam_spot_sigma_cm
    x = cx[which] + spot * rng.standard_normal(n)
    y = cy[which] + spot * rng.standard_normal(n)
    bx, by = beamline.cell_centre_cm(g, *g.beam_cell)
    batch.table_offset = np.stack([cx[which] - bx, cy[which] - by], axis=1)
    showers.add_em_shower(rng, batch.intime, idx, kin["energy"], x, y, g, r)
    add_synchrotron_radiation(rng, batch.intime, idx, kin["energy"], r)
    batch.trigger_bits[:] = TRIGGER_CALIBRATION
    return batch


def generate_muon_run(rng: np.random.Generator, n: int, ctx: SimContext) -> EventBatch:
    """Beam muons spread over the HCAL face (calibration of HCAL, VETO and counters)."""
    g, r = ctx.geometry, ctx.response
    batch = EventBatch.empty(n, proc.PROCESS_IDS["calib_muon"])
    idx = np.arange(n)
    kin = beam_kinematics(rng, n, ctx)
    half = HCAL_SHAPE[1] * g.hcal_cell_pitch_cm / 2
    cx, cy = beamline.cell_centre_cm(g, *g.beam_cell)
    x = cx + rng.uniform(-half, half, n)
    y = cy + rng.uniform(-half, half, n)
    add_beam_track(batch, idx, ctx, kin, kin["energy"])
    mips.add_counters(rng, batch.intime, idx, r, np.zeros(n))
    # every module, including a zero-degree HCAL3 (2021-2022), is put in the muon beam
    mips.add_muon(rng, batch.intime, idx, kin["energy"], x, y, g, r, n_modules=HCAL_SHAPE[0])
    batch.truth["mc_beam_pdg"][:] = PDG_MUON
    batch.truth["mc_beam_energy"][:] = kin["energy"]
    batch.truth["mc_n_muons"][:] = 1
    batch.trigger_bits[:] = TRIGGER_CALIBRATION
    return batch


__all__ = [
    "PDG_ELECTRON",
    "SIGNAL_MODELS",
    "generate_ecal_scan",
    "generate_muon_run",
    "generate_signal",
]
