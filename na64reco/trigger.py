"""Emulation of the hardware physics trigger from reconstructed energies (paper 000, eq. 8).

    Tr = prod_i S_i * not(V1) * PS(E > E_PS^th) * ECAL(E < E_ECAL^th)

Contract: ``emulate_trigger(reco, period)`` takes the output of
``na64reco.reco.calorimeters.reconstruct_calorimeters`` (its ``trig_*`` keys: the calibrated
energies of the pulses within the hardware gate ``+- period.trigger.gate_ns``) and the
:class:`~na64reco.conditions.periods.RunPeriod`; it returns boolean arrays: the decision
``trigger`` and each term ``s_counters``, ``no_v1``, ``ps_above``, ``ecal_below``. Thresholds
come from ``period.trigger`` (``ps_min_gev``, ``ecal_max_gev``, ``counter_min_mip``,
``veto_v1_min_mip``) and the counter MIP from ``conditions.RESPONSE.counter_mip_gev``, never
literals. Pure function, no loop over events.

The emulation sees zero-suppressed, noisy calibrated amplitudes while the hardware sums the
analogue signal: they differ only for events near a threshold (and where out-of-gate pile-up
masks an in-gate pulse in the digitiser). It does not include the trigger efficiency (95%,
random loss) or the DAQ dead time: compare it with the recorded bit on recorded events.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import RESPONSE
from na64reco.conditions.periods import RunPeriod

__all__ = ["TRIGGER_TERMS", "emulate_trigger"]

TRIGGER_TERMS = ("s_counters", "no_v1", "ps_above", "ecal_below")


def emulate_trigger(reco: dict, period: RunPeriod) -> dict[str, np.ndarray]:
    """Decision and terms of the physics trigger of ``period`` for reconstructed events."""
    trig = period.trigger
    counters = np.asarray(reco["trig_counter_e"])
    mip = RESPONSE.counter_mip_gev
    terms = {
        "s_counters": np.all(counters[:, :3] > trig.counter_min_mip * mip, axis=1),
        "no_v1": ~(counters[:, 3] > trig.veto_v1_min_mip * mip),
        "ps_above": np.asarray(reco["trig_ps_e"]) > trig.ps_min_gev,
        "ecal_below": np.asarray(reco["trig_ecal_e"]) < trig.ecal_max_gev,
    }
    decision = terms["s_counters"] & terms["no_v1"] & terms["ps_above"] & terms["ecal_below"]
    return {"trigger": decision, **terms}
