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

The sums (``trigger_sums``) take every usable channel whose pulse time is within the gate,
without zero suppression. The simulated hardware applies the same rule to the same digitised
channels with the true constants, so emulation and recorded bit differ only through the
calibration (a real, analogue NA64 trigger also has its own noise, which no emulation sees). It
does not include the trigger efficiency (95%, random loss) or the DAQ dead time: compare it
with the recorded bit on recorded events.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import RESPONSE
from na64reco.conditions.periods import RunPeriod

__all__ = ["TRIGGER_TERMS", "emulate_trigger", "gated_energy", "trigger_sums"]

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


def gated_energy(amp: np.ndarray, t: np.ndarray, constants, gate_ns: float) -> np.ndarray:
    """What a trigger sum takes from each channel: the calibrated amplitude of every usable
    channel whose reported pulse time lies within +- ``gate_ns`` of its t0, without zero
    suppression (noise included). Float32, like the raw data; non-finite values (which fail the
    gate comparison) contribute nothing."""
    amp = np.asarray(amp, dtype=np.float32)
    t = np.asarray(t, dtype=np.float32)
    t0 = constants.t0.astype(np.float32)
    in_gate = np.abs(t - t0) < np.float32(gate_ns)  # False for NaN
    energy = (amp - constants.pedestal.astype(np.float32)) * constants.gain.astype(np.float32)
    ok = in_gate & constants.usable & np.isfinite(energy)
    return np.where(ok, energy, np.float32(0))


def trigger_sums(arrays: dict, cset, gate_ns: float) -> dict[str, np.ndarray]:
    """``trig_ps_e``, ``trig_ecal_e`` and ``trig_counter_e`` (n,4) of a chunk of raw events.

    The simulated hardware forms Tr(X) with exactly this rule and the true constants (a digital
    trigger on the digitised channels, see ``na64reco.sim.hardware``); the emulation uses it with
    the derived constants, so the two differ only by the calibration.
    """
    ecal = gated_energy(arrays["ecal_amp"], arrays["ecal_t"], cset.ecal, gate_ns)
    ps = ecal[:, 0].sum(axis=(1, 2))
    return {
        "trig_ps_e": ps,
        "trig_ecal_e": ps + ecal[:, 1].sum(axis=(1, 2)),
        "trig_counter_e": gated_energy(
            arrays["counter_amp"], arrays["counter_t"], cset.counter, gate_ns
        ),
    }
