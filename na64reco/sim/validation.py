"""Truth-level figures of simulated data, to compare with the numbers of the papers.

Used by the tests and by anyone validating a new set of conditions. All of them read only MC
truth and trigger bits of generated (not necessarily written) events.

Truth-level definitions:
* SR tag: the true in-time SRD deposit lies in the electron SR range, 1-100 MeV [paper 001].
* Signal box: recorded physics trigger, SR tag, true E_ECAL < 50 GeV, true E_HCAL < 1 GeV, true
  VETO below half a MIP, no extra charged particle crossing the trackers, a single EM shower (what
  the shower-shape cut requires: no second shower a cell or more away), and the beam particle's
  momentum through the magnets within 100 +- 3 GeV (what the momentum cut sees).
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import get_period
from na64reco.conditions import processes as proc
from na64reco.conditions.periods import BEAM_ENERGY_GEV
from na64reco.conditions.response import RESPONSE
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.sim import generators as gen
from na64reco.sim import hardware

SR_TAG_RANGE_GEV = (0.001, 0.1)
BOX_ECAL_MAX_GEV = 50.0
BOX_HCAL_MAX_GEV = 1.0
UPSTREAM_OVERSAMPLING = 10
MOMENTUM_WINDOW_GEV = 3.0  # the incoming track momentum window 100 +- 3 GeV [paper 000]


def sr_tagged(arrays: dict) -> np.ndarray:
    srd = arrays["mc_srd_edep"]
    return (srd > SR_TAG_RANGE_GEV[0]) & (srd < SR_TAG_RANGE_GEV[1])


def in_truth_box(arrays: dict) -> np.ndarray:
    """Recorded physics-trigger events in the signal box with no extra activity (truth)."""
    physics = (arrays["trigger"] & TRIGGER_PHYSICS) > 0
    return (
        physics
        & sr_tagged(arrays)
        & (arrays["mc_ecal_edep"] < BOX_ECAL_MAX_GEV)
        & (arrays["mc_hcal_edep"] < BOX_HCAL_MAX_GEV)
        & (arrays["mc_veto_edep"] < 0.5 * RESPONSE.veto_mip_gev)
        & (arrays["mc_n_extra_charged"] == 0)
        & (arrays["mc_n_showers"] == 1)
        & (np.abs(arrays["mc_beam_energy"] - BEAM_ENERGY_GEV) < MOMENTUM_WINDOW_GEV)
    )


# Importance factors: (outcome boosted, factor) per process whose box entries are rare.
# With factor f the outcome probability is multiplied by f (never exceeding 1 for these values)
# and each box event then weighs 1/f.
_BOX_IMPORTANCE = {
    "upstream_interaction": ("escape", 150.0),
    "hadron_electroproduction": ("punch_through", 1e6),
    "hadron_decay": ("srd_fake", 1e5),
    "beam_hadron": ("srd_fake", 1e5),
    "beam_muon": ("srd_fake", 1e5),
}


def expected_box_background(
    period: str, eot: float, events_per_process: int = 20000, seed: int = 7
) -> dict[str, float]:
    """Expected truth-level box background per process for ``eot`` electrons on target.

    Each process is generated (``events_per_process`` events, with the rare outcome that leads
    into the box boosted by an importance factor), passed through pile-up, the hardware trigger
    and its efficiency, and the weighted fraction in the box is scaled to rate x EOT x live time.
    """
    p = get_period(period)
    rng = np.random.default_rng(seed)
    # the upstream escape into the box is the rarest outcome: give it more events
    out: dict[str, float] = {}
    rates = gen.background_rates(gen.SimContext(p))
    for name, generator in gen.BACKGROUND_GENERATORS.items():
        outcome, factor = _BOX_IMPORTANCE.get(name, (None, 1.0))
        importance = {outcome: factor} if outcome else {}
        if outcome == "srd_fake":  # boosts must not saturate: P x factor <= 1
            factor = min(factor, 1.0 / p.srd_hadron_fake_probability)
            importance = {outcome: factor}
        resp = RESPONSE
        ctx = gen.SimContext(p, response=resp, importance=importance)
        n_gen = events_per_process * (
            UPSTREAM_OVERSAMPLING if name == "upstream_interaction" else 1
        )
        batch = generator(rng, n_gen, ctx)
        gen.overlay_pileup(rng, batch, ctx)
        fired = hardware.physics_trigger(batch, p, resp)
        arrays = {
            "trigger": np.where(fired, TRIGGER_PHYSICS, 0),
            **batch.truth,
            **hardware.truth_deposits(batch, p.trigger.gate_ns),
        }
        frac = np.count_nonzero(in_truth_box(arrays)) / n_gen / factor
        out[name] = frac * rates[name] * eot * p.trigger.efficiency * p.daq_live_fraction
    out["total"] = float(sum(out.values()))
    return out


__all__ = ["expected_box_background", "in_truth_box", "proc", "sr_tagged"]
