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

The hardware (``na64reco.sim.hardware``) sums the *analogue* signal of every channel within its
gate: the deposits in time plus the noise of all channels, without threshold and before any
ADC. The emulation can only use the digitised channels, so its sums (``trigger_sums``) take
every usable channel with a pulse in the gate plus every usable channel *without* a pulse
(below ``PULSE_THRESHOLD_SIGMAS`` noise: its reported time is that of a noise sample, anywhere
in the read-out window, and its amplitude is noise plus whatever small in-time deposit it
carries, which the analogue sum also holds). Emulation and recorded bit then differ by the
calibration, the digitisation (quantisation, ADC saturation: a saturated channel reads low)
and the read-out of pile-up: a channel reports one pulse, the larger of two more than
``pulse_merge_ns`` apart, so an out-of-gate pile-up pulse can hide the in-time one the hardware
summed (~5% of 2016 and ~20% of 2022 recorded physics triggers; the pile-up cut removes such
events anyway). It does not
include the trigger efficiency (95%, random loss) or the DAQ dead time: compare it with the
recorded bit on recorded events.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions import RESPONSE
from na64reco.conditions.periods import RunPeriod
from na64reco.conditions.response import PULSE_THRESHOLD_SIGMAS

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
    channel whose reported pulse time lies within +- ``gate_ns`` of its t0 and of every usable
    channel without a pulse (energy at most ``PULSE_THRESHOLD_SIGMAS`` noise, whatever its
    time), without zero suppression (noise included). Float32, like the raw data; non-finite
    values contribute nothing."""
    amp = np.asarray(amp, dtype=np.float32)
    t = np.asarray(t, dtype=np.float32)
    t0 = constants.t0.astype(np.float32)
    in_gate = np.abs(t - t0) < np.float32(gate_ns)  # False for NaN
    gain = constants.gain.astype(np.float32)
    energy = (amp - constants.pedestal.astype(np.float32)) * gain
    threshold = (PULSE_THRESHOLD_SIGMAS * constants.noise * gain).astype(np.float32)
    pulse = energy > threshold
    ok = (in_gate | ~pulse) & constants.usable & np.isfinite(amp) & np.isfinite(t)
    return np.where(ok, energy, np.float32(0))


def trigger_sums(arrays: dict, cset, gate_ns: float) -> dict[str, np.ndarray]:
    """``trig_ps_e``, ``trig_ecal_e`` and ``trig_counter_e`` (n,4) of a chunk of raw events.

    The rule of ``gated_energy``: the digitised image of the hardware's analogue sums (module
    docstring).
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
