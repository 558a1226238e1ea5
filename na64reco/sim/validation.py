"""Truth-level figures of simulated data, to compare with the numbers of the papers.

Used by the tests and by anyone validating a new set of conditions. All of them read only MC
truth and trigger bits of generated (not necessarily written) events.

Truth-level definitions:
* SR tag: the true in-time SRD deposit lies in the electron SR range, 1-100 MeV [paper 001]; the
  box background uses the period's window of the invisible cut set (2016: 6.6-100 MeV [code]).
* Signal box: recorded physics trigger, SR tag, true E_ECAL < 50 GeV, true E_HCAL < 1 GeV, true
  VETO below half a MIP, no extra charged particle crossing the trackers, a single EM shower (what
  the shower-shape cut requires: no second shower a cell or more away), and the beam particle's
  momentum through the magnets within 100 +- 3 GeV (what the momentum cut sees). The box
  background of a period (``expected_box_background``) takes the SRD window, the box edge and
  the momentum window of that period's invisible cut set (2016: SRD 6.6-100 MeV; 2021: box
  47 GeV; 2021-2022: momentum 100 +- 10 GeV).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from na64reco.conditions import get_period
from na64reco.conditions import processes as proc
from na64reco.conditions.periods import BEAM_ENERGY_GEV
from na64reco.conditions.response import RESPONSE
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.sim import generators as gen
from na64reco.sim import hardware
from na64reco.sim.upstream import MAX_ESCAPE_BOOST

SR_TAG_RANGE_GEV = (0.001, 0.1)
BOX_ECAL_MAX_GEV = 50.0
BOX_HCAL_MAX_GEV = 1.0
UPSTREAM_OVERSAMPLING = 10
MOMENTUM_WINDOW_GEV = 3.0  # the incoming track momentum window 100 +- 3 GeV [paper 000]


def sr_tagged(arrays: dict, window: tuple[float, float] = SR_TAG_RANGE_GEV) -> np.ndarray:
    srd = arrays["mc_srd_edep"]
    return (srd > window[0]) & (srd < window[1])


@dataclass(frozen=True)
class TruthBox:
    """The edges of the truth-level box: SRD window, E_ECAL edge, momentum window [GeV]."""

    sr_window: tuple[float, float] = SR_TAG_RANGE_GEV
    ecal_max_gev: float = BOX_ECAL_MAX_GEV
    momentum_window_gev: tuple[float, float] = (
        BEAM_ENERGY_GEV - MOMENTUM_WINDOW_GEV,
        BEAM_ENERGY_GEV + MOMENTUM_WINDOW_GEV,
    )


def selection_box(period: str) -> TruthBox:
    """The truth box with the SRD window, box edge and momentum window of the invisible cut
    set for ``period``."""
    from na64reco.cutsets import load_cutset

    cuts = {c.name: c for c in load_cutset("invisible").cuts}

    def bounds(cut: str) -> tuple[float, float]:
        lo, hi = cuts[cut].conditions[0].bounds(period)[:2]
        return float("-inf" if lo is None else lo), float("inf" if hi is None else hi)

    return TruthBox(bounds("srd"), bounds("box")[1], bounds("momentum"))


def in_truth_box(arrays: dict, box: TruthBox | None = None) -> np.ndarray:
    """Recorded physics-trigger events in the signal box with no extra activity (truth)."""
    box = box or TruthBox()
    physics = (arrays["trigger"] & TRIGGER_PHYSICS) > 0
    p_lo, p_hi = box.momentum_window_gev
    return (
        physics
        & sr_tagged(arrays, box.sr_window)
        & (arrays["mc_ecal_edep"] < box.ecal_max_gev)
        & (arrays["mc_hcal_edep"] < BOX_HCAL_MAX_GEV)
        & (arrays["mc_veto_edep"] < 0.5 * RESPONSE.veto_mip_gev)
        & (arrays["mc_n_extra_charged"] == 0)
        & (arrays["mc_n_showers"] == 1)
        & (arrays["mc_beam_energy"] > p_lo)
        & (arrays["mc_beam_energy"] < p_hi)
    )


# Importance factors: (outcome boosted, factor) per process whose box entries are rare.
# With factor f the outcome probability is multiplied by f (never exceeding 1 for these values)
# and each box event then weighs 1/f.
_BOX_IMPORTANCE = {
    "upstream_interaction": ("escape", MAX_ESCAPE_BOOST),
    "hadron_electroproduction": ("punch_through", 1e6),
    "hadron_decay": ("srd_fake", 1e5),
    "beam_hadron": ("srd_fake", 1e5),
    "beam_muon": ("srd_fake", 1e5),
}


DEFAULT_EVENTS_PER_PROCESS = 20000
DEFAULT_SEED = 7


def box_background_per_eot(
    period: str, box: TruthBox, events_per_process: int, seed: int
) -> dict[str, float]:
    """Simulated truth-level box background per electron on target, per process, with the
    Poisson error of each (``<process>_err``); see :func:`expected_box_background`."""
    p = get_period(period)
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    rates = gen.background_rates(gen.SimContext(p))
    for name, generator in gen.BACKGROUND_GENERATORS.items():
        outcome, factor = _BOX_IMPORTANCE.get(name, (None, 1.0))
        if outcome == "srd_fake":  # boosts must not saturate: P x factor <= 1
            factor = min(factor, 1.0 / p.srd_hadron_fake_probability)
        importance = {outcome: factor} if outcome else {}
        ctx = gen.SimContext(p, response=RESPONSE, importance=importance)
        n_gen = events_per_process * (
            UPSTREAM_OVERSAMPLING if name == "upstream_interaction" else 1
        )
        batch = generator(rng, n_gen, ctx)
        gen.overlay_pileup(rng, batch, ctx)
        fired = hardware.physics_trigger(batch, p, RESPONSE)
        arrays = {
            "trigger": np.where(fired, TRIGGER_PHYSICS, 0),
            **batch.truth,
            **hardware.truth_deposits(batch, p.trigger.gate_ns),
        }
        k = np.count_nonzero(in_truth_box(arrays, box))
        scale = rates[name] * p.trigger.efficiency * p.daq_live_fraction / n_gen / factor
        out[name] = float(k * scale)
        out[f"{name}_err"] = float(np.sqrt(k) * scale)
    return out


def expected_box_background(
    period: str,
    eot: float,
    events_per_process: int = DEFAULT_EVENTS_PER_PROCESS,
    seed: int = DEFAULT_SEED,
    with_errors: bool = False,
) -> dict[str, float]:
    """Expected truth-level box background per process for ``eot`` electrons on target.

    Each process is generated (``events_per_process`` events, 10x for upstream interactions,
    with the rare outcome that leads into the box boosted by an importance factor), passed
    through pile-up, the noise-free hardware trigger and its efficiency, and the weighted
    fraction in the box (edges of the period's selection, ``selection_box``) is scaled to rate x
    EOT x live time. ``with_errors``: also ``<process>_err``, the Poisson error of each entry.
    The result is linear in ``eot``: the per-EOT values come from the shipped table
    (``sim.box_table``) when it was made by this code for these settings and box, else they
    are simulated now.
    """
    from na64reco.sim import box_table

    box = selection_box(get_period(period).name)
    per_eot = box_table.lookup(period, box, events_per_process, seed)
    if per_eot is None:
        per_eot = box_background_per_eot(period, box, events_per_process, seed)
    values = {k: v * eot for k, v in per_eot.items() if not k.endswith("_err")}
    errors = {k: v * eot for k, v in per_eot.items() if k.endswith("_err")}
    out = {**values, "total": float(sum(values.values()))}
    if with_errors:
        out.update(errors)
        out["total_err"] = float(np.sqrt(sum(v**2 for v in errors.values())))
    return out


__all__ = [
    "DEFAULT_EVENTS_PER_PROCESS",
    "DEFAULT_SEED",
    "TruthBox",
    "box_background_per_eot",
    "expected_box_background",
    "in_truth_box",
    "proc",
    "selection_box",
    "sr_tagged",
]
