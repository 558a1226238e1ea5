"""The simulated hardware: physics trigger decision and digitisation into raw amplitudes/times.

Trigger (paper 000 eq. 8): Tr = prod(S_i) * not(V1) * PS(E > E_PS^th) * ECAL(E < E_ECAL^th).
The simulated hardware is a digital trigger: it sums the digitised channels whose pulse lies
within +- ``gate_ns`` of their t0, with the true constants (``na64reco.trigger.trigger_sums``,
the rule the emulation uses with derived constants). Approximation: the real NA64 trigger
formed analogue sums, whose own noise and thresholds no emulation can see. A loose
pre-selection on the true deposits (``pretrigger``, margins well above the noise) spares the
digitisation of events that cannot fire.

Digitisation: raw = pedestal + gain * E + noise (ADC, float32, quantised to 1/8 ADC and clipped to
the 12-bit range); time = pulse time + t0 + jitter (quantised to 1/16 ns). Two pulses in one
channel closer than ``pulse_merge_ns`` are summed (amplitude-weighted time); otherwise the
waveform fit reports the larger one. A channel without signal reports noise and the time of its
largest noise sample (a multiple of the 12.5 ns sampling period) in the read-out window. Dead
channels have no signal response; absent channels read 0.
"""

from __future__ import annotations

import numpy as np

from na64reco.conditions.periods import RunPeriod
from na64reco.conditions.response import RESPONSE, Response
from na64reco.conditions.truth_calibration import STATUS_ABSENT, STATUS_DEAD
from na64reco.eventtree import contract
from na64reco.sim.batch import EventBatch
from na64reco.sim.deposits import DETECTOR_SHAPES

AMPLITUDE_QUANTUM_ADC = 0.125  # [choose] below the noise; lets ZSTD compress the mantissa
TIME_QUANTUM_NS = 0.0625  # [choose]
NO_SIGNAL_SIGMAS = 3.0  # a channel whose signal is below 3 noise sigmas has no pulse time
# Without a pulse the waveform analysis returns the time of the largest noise sample: a multiple
# of the 12.5 ns sampling period of the 80 MHz MSADCs [choose] anywhere in the read-out window.
SAMPLING_PERIOD_NS = 12.5
MAX_JITTER_NS = 10.0


def gated(batch: EventBatch, detector: str, gate_ns: float) -> np.ndarray:
    """In-time deposits plus those of pile-up within the gate."""
    intime = getattr(batch.intime, detector)
    pile = getattr(batch.pileup, detector)
    inside = np.abs(np.nan_to_num(batch.pileup_dt, nan=1e9)) < gate_ns
    shape = (-1,) + (1,) * (intime.ndim - 1)
    return intime + pile * inside.reshape(shape)


# Margins of the pre-selection on true deposits: far beyond the noise of the digitised sums
# (~0.03 GeV on the PS sum, ~0.3 GeV on the ECAL sum) [choose].
PRETRIGGER_PS_MARGIN_GEV = 0.15
PRETRIGGER_ECAL_MARGIN_GEV = 2.0
PRETRIGGER_COUNTER_MARGIN_MIP = 0.25


def pretrigger(batch: EventBatch, period: RunPeriod, resp: Response = RESPONSE) -> np.ndarray:
    """Events that may fire Tr(X): the trigger on true in-gate deposits with loose margins."""
    trig = period.trigger
    ecal = gated(batch, "ecal", trig.gate_ns)
    counters = gated(batch, "counter", trig.gate_ns) / resp.counter_mip_gev
    e_ps = ecal[:, 0].sum(axis=(1, 2))
    e_tot = ecal.sum(axis=(1, 2, 3))
    margin = PRETRIGGER_COUNTER_MARGIN_MIP
    s_ok = np.all(counters[:, :3] > trig.counter_min_mip - margin, axis=1)
    v1 = counters[:, 3] > trig.veto_v1_min_mip + margin
    return (
        s_ok
        & ~v1
        & (e_ps > trig.ps_min_gev - PRETRIGGER_PS_MARGIN_GEV)
        & (e_tot < trig.ecal_max_gev + PRETRIGGER_ECAL_MARGIN_GEV)
    )


def physics_trigger(batch: EventBatch, period: RunPeriod, resp: Response = RESPONSE) -> np.ndarray:
    """Tr(X) on the true in-gate deposits, without read-out noise (truth-level studies)."""
    trig = period.trigger
    ecal = gated(batch, "ecal", trig.gate_ns)
    counters = gated(batch, "counter", trig.gate_ns)
    e_ps = ecal[:, 0].sum(axis=(1, 2))
    e_tot = ecal.sum(axis=(1, 2, 3))
    s_ok = np.all(counters[:, :3] > trig.counter_min_mip * resp.counter_mip_gev, axis=1)
    v1 = counters[:, 3] > trig.veto_v1_min_mip * resp.counter_mip_gev
    return s_ok & ~v1 & (e_ps > trig.ps_min_gev) & (e_tot < trig.ecal_max_gev)


def digital_trigger(raw: dict[str, np.ndarray], period: str, epoch: int = 0) -> np.ndarray:
    """Tr(X) of the simulated hardware on digitised events (true constants of the period)."""
    from na64reco.calibration.truth import calibration_from_truth
    from na64reco.conditions import get_period
    from na64reco.trigger import emulate_trigger, trigger_sums

    p = get_period(period)
    sums = trigger_sums(raw, calibration_from_truth(period, epoch), p.trigger.gate_ns)
    return emulate_trigger(sums, p)["trigger"]


def digitize(
    rng: np.random.Generator,
    batch: EventBatch,
    constants: dict[str, dict[str, np.ndarray]],
    resp: Response = RESPONSE,
) -> dict[str, np.ndarray]:
    """Raw ``<det>_amp`` and ``<det>_t`` arrays (float32) for every calorimeter-type detector."""
    out: dict[str, np.ndarray] = {}
    n = len(batch)
    dt = np.nan_to_num(batch.pileup_dt, nan=0.0)
    window = resp.readout_window_ns
    for det, shape in DETECTOR_SHAPES.items():
        c = constants[det]
        e_in = getattr(batch.intime, det)
        e_pu = getattr(batch.pileup, det)
        dt_b = dt.reshape((-1,) + (1,) * len(shape))
        merge = np.abs(dt_b) < resp.pulse_merge_ns
        total = e_in + e_pu
        merged_t = np.where(total > 0, e_pu * dt_b / np.where(total > 0, total, 1.0), 0.0)
        energy = np.where(merge, total, np.maximum(e_in, e_pu))
        t_pulse = np.where(merge, merged_t, np.where(e_pu > e_in, dt_b, 0.0))
        status = c["status"]
        signal = np.where(status == STATUS_DEAD, 0.0, c["gain"] * energy)
        noise = c["noise"] * rng.standard_normal((n, *shape))
        amp = c["pedestal"] + signal + noise
        # time: jitter grows for small pulses; no pulse -> the fit lands anywhere in the window
        el_sigma = _time_sigma(det)
        rel = c["noise"] / np.maximum(signal, 1e-9)
        jitter = np.minimum(el_sigma * np.sqrt(1 + (5 * rel) ** 2), MAX_JITTER_NS)
        has_pulse = signal > NO_SIGNAL_SIGMAS * c["noise"]
        t = np.where(
            has_pulse,
            t_pulse + c["t0"] + jitter * rng.standard_normal((n, *shape)),
            SAMPLING_PERIOD_NS
            * rng.integers(
                -int(window / SAMPLING_PERIOD_NS), int(window / SAMPLING_PERIOD_NS) + 1, (n, *shape)
            ),
        )
        amp = np.clip(amp, 0.0, 4095.0)
        absent = status == STATUS_ABSENT
        amp = np.where(absent, 0.0, amp)
        t = np.where(absent, 0.0, t)
        out[f"{det}_amp"] = (np.round(amp / AMPLITUDE_QUANTUM_ADC) * AMPLITUDE_QUANTUM_ADC).astype(
            np.float32
        )
        out[f"{det}_t"] = (np.round(t / TIME_QUANTUM_NS) * TIME_QUANTUM_NS).astype(np.float32)
    return out


def _time_sigma(detector: str) -> float:
    from na64reco.conditions.response import ELECTRONICS

    key = "ecal_main" if detector == "ecal" else detector
    return ELECTRONICS[key].time_sigma_ns


def truth_deposits(batch: EventBatch, gate_ns: float) -> dict[str, np.ndarray]:
    """True in-time deposits per detector (the mc_*_edep branches)."""
    return {
        "mc_ecal_edep": batch.intime.ecal.sum(axis=(1, 2, 3)).astype(np.float32),
        "mc_hcal_edep": batch.intime.hcal.sum(axis=(1, 2, 3)).astype(np.float32),
        "mc_veto_edep": (batch.intime.veto.sum(axis=1) / 2).astype(np.float32),
        "mc_srd_edep": batch.intime.srd.sum(axis=1).astype(np.float32),
    }


__all__ = ["contract", "digitize", "physics_trigger", "truth_deposits"]
