"""The read-out of generated events: trigger, dead time, beam order, digitisation, tracker hits.

``record_events`` turns an :class:`EventBatch` (generated, pile-up overlaid) into the writer-ready
arrays of the events that are recorded: the hardware trigger on the analogue sums
(``hardware.analogue_trigger``; thinned em_shower candidates kept with their acceptance), the
trigger efficiency, the DAQ dead time (data runs), uniform positions in the run's exposure
sorted into beam order and numbered in spills, then the digitisation with the period's true
calibration, the tracker hits and the MC truth. Only recorded events are digitised.

``sim.run.generate_run`` uses it for whole runs; studies that build their own batch (importance
factors, one process) use it to get the same raw data the files hold.
"""

from __future__ import annotations

import logging

import numpy as np

from na64reco.eventtree import contract
from na64reco.sim import hardware
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import SimContext
from na64reco.sim.tracker import TrackSegments, simulate_tracker_hits

logger = logging.getLogger(__name__)

RECORD_KINDS = ("physics", "signal", "calibration")


def record_events(
    rng: np.random.Generator,
    batch: EventBatch,
    ctx: SimContext,
    kind: str,
    run: int,
    spills: int,
    dead_time: bool = True,
) -> tuple[dict, EventBatch, dict]:
    """(arrays, recorded batch, trigger bookkeeping) of the recorded events of ``batch``.

    ``kind``: "physics" or "signal" (physics trigger formed), "calibration" (calibration and
    pedestal runs keep their own trigger bits only). ``dead_time``: apply the DAQ live fraction
    (not for signal MC, whose efficiency is quoted per live EOT).
    """
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {kind!r}; known: {', '.join(RECORD_KINDS)}")
    period = ctx.period
    constants = ctx.constants
    if kind == "calibration":
        noise = hardware.unconditioned_noise(rng, len(batch), constants)
        bits = batch.trigger_bits
        bookkeeping: dict = {}
    else:
        decision = hardware.analogue_trigger(rng, batch, period, constants, ctx.response)
        noise = decision.noise
        fired = decision.fired & (rng.random(len(batch)) < period.trigger.efficiency)
        bits = batch.trigger_bits | np.where(fired, contract.TRIGGER_PHYSICS, 0).astype(np.uint16)
        bookkeeping = {
            "thinned": decision.thinned,
            "thinned_kept": decision.thinned_kept,
            "bound_violations": decision.bound_violations,
        }
        if decision.bound_violations:
            logger.warning(
                "run %d: %d thinned event(s) above their trigger bound (see sim.em_tail)",
                run,
                decision.bound_violations,
            )
    keep = bits != 0
    if dead_time:
        keep &= rng.random(len(batch)) < period.daq_live_fraction
    position = rng.random(len(batch))
    order = np.flatnonzero(keep)
    order = order[np.argsort(position[order], kind="stable")]
    batch = batch.take(order)
    bits = bits[order]
    raw = hardware.digitize(rng, batch, constants, noise.take(order), ctx.response)
    n = len(batch)
    spill = np.floor(position[order] * max(spills, 1)).astype(np.int32) + 1
    arrays: dict[str, object] = {
        "run": np.full(n, run, dtype=np.int32),
        "spill": spill,
        "event": _event_in_spill(spill),
        "trigger": bits.astype(np.uint16),
    }
    arrays.update(raw)
    segs = batch.segment_arrays()
    segs["event"] = segs["event"].astype(np.int64)
    arrays["mm"], arrays["st"] = simulate_tracker_hits(
        rng,
        period.geometry,
        n,
        TrackSegments(**segs),
        constants["mm"]["t0"],
        constants["straw"]["t0"],
        constants["straw"]["drift_max_ns"],
    )
    arrays.update(batch.truth)
    arrays.update(hardware.truth_deposits(batch, period.trigger.gate_ns))
    return arrays, batch, bookkeeping


def _event_in_spill(spill: np.ndarray) -> np.ndarray:
    """Running event number within each spill (spill is sorted)."""
    n = len(spill)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, spill[1:] != spill[:-1]])
    first_of = np.repeat(starts, np.diff(np.r_[starts, n]))
    return (np.arange(n) - first_of + 1).astype(np.int64)


__all__ = ["RECORD_KINDS", "record_events"]
