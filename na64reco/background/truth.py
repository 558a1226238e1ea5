"""Truth-level (fast) simulated (E_ECAL, E_HCAL) planes: coverage ensembles and ABCD closure.

The full simulation (``na64reco.sim.run``) digitises every recorded event; an ensemble whose box
holds several events needs rate_scale x EOT ~ 1e12-1e13 upstream interactions, i.e. 1e7 events
per dataset, beyond this machine (the full chain ran out of its 23 GB at 5e6). This module uses
the same generators, pile-up overlay and hardware trigger as ``na64reco.sim`` and the truth
definitions of ``na64reco.sim.validation`` (``in_truth_box``), without digitisation and
reconstruction, in two exact shortcuts:

* Upstream interactions are generated at rate / F with the escape probability boosted by F
  (``importance={"escape": F}``). An upstream event enters the clean plane (no extra charged
  particle) only when its secondaries escape, and thinning a Poisson process keeps it Poisson:
  the escapes of rate / F x boost F are distributed exactly as those of the nominal rate, with
  unit weights. The undersampled non-escaping upstream events always carry >= 1 extra charged
  particle and are outside the clean plane.
* The physics-trigger efficiency and the DAQ live fraction are applied as random thinning.

``clean`` = physics trigger, SR tag, VETO below half a MIP, no extra charged particle, one EM
shower, momentum in the window: every cut but the signal-region ones, at truth level.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import get_period
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.sim import generators as gen
from na64reco.sim import hardware
from na64reco.sim.upstream import MAX_ESCAPE_BOOST
from na64reco.sim.validation import in_truth_box

ESCAPE_BOOST = MAX_ESCAPE_BOOST  # the largest that keeps the boosted escape probability < 1
CHUNK = 100_000


def _clean_events(rng, name: str, n: int, ctx, period) -> tuple[np.ndarray, np.ndarray]:
    ecal_out, hcal_out = [], []
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        batch = gen.BACKGROUND_GENERATORS[name](rng, m, ctx)
        m = len(batch)  # em_shower keeps only part of its drawn electrons (sim.em_tail)
        gen.overlay_pileup(rng, batch, ctx)
        fired = hardware.physics_trigger(batch, period, ctx.response)
        fired &= rng.random(m) < period.trigger.efficiency * period.daq_live_fraction
        arrays = {
            "trigger": np.where(fired, TRIGGER_PHYSICS, 0),
            **batch.truth,
            **hardware.truth_deposits(batch, period.trigger.gate_ns),
        }
        # in_truth_box with the box edges opened: every cut but E_ECAL and E_HCAL
        wide = dict(arrays)
        wide["mc_ecal_edep"] = np.zeros(m, np.float32)
        wide["mc_hcal_edep"] = np.zeros(m, np.float32)
        clean = in_truth_box(wide)
        ecal_out.append(np.asarray(arrays["mc_ecal_edep"], float)[clean])
        hcal_out.append(np.asarray(arrays["mc_hcal_edep"], float)[clean])
    if not ecal_out:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ecal_out), np.concatenate(hcal_out)


def truth_clean_plane(
    period: str,
    eot: float,
    seed: int,
    rate_scale: dict[str, float] | None = None,
    processes: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray]:
    """(E_ECAL, E_HCAL) true deposits of the clean events of one simulated dataset.

    ``processes``: the background processes to generate (default: all). Returns ``ecal``,
    ``hcal`` and ``process`` (index into the list of generated process names, ``names``).
    """
    p = get_period(period)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(period), 99)))
    scale = dict(rate_scale or {})
    rates = gen.background_rates(gen.SimContext(p, rate_scale=scale))
    names = list(processes or gen.BACKGROUND_GENERATORS)
    ecal, hcal, which = [], [], []
    for i, name in enumerate(names):
        boost = ESCAPE_BOOST if name == "upstream_interaction" else 1.0
        ctx = gen.SimContext(p, rate_scale=scale, importance={"escape": boost} if boost > 1 else {})
        n = int(rng.poisson(rates[name] * eot / boost))
        e, h = _clean_events(rng, name, n, ctx, p)
        ecal.append(e)
        hcal.append(h)
        which.append(np.full(len(e), i))
    return {
        "ecal": np.concatenate(ecal),
        "hcal": np.concatenate(hcal),
        "process": np.concatenate(which),
        "names": np.array(names),
    }


__all__ = ["ESCAPE_BOOST", "truth_clean_plane"]
