"""The simulated hardware: the analogue physics trigger and the digitisation into raw data.

Trigger (paper 000 eq. 8): Tr = prod(S_i) * not(V1) * PS(E > E_PS^th) * ECAL(E < E_ECAL^th),
formed from the *analogue* signals, before and independently of the ADCs
(``analogue_trigger``): each sum is the true energy deposited within +- ``gate_ns`` of the
trigger time in the channels that give a signal (not dead, not absent) plus the electronics
noise of those channels. The noise is the one the ADCs then digitise (it is in the analogue
signal before the split into ADC and trigger summing), so an emulation from the digitised data
(``na64reco.trigger``) differs from the hardware only by the calibration, the digitisation
(quantisation, ADC saturation) and pulses near the edge of the gate. Approximation: the summing
electronics add no noise and no threshold smearing of their own. Because the sums are analogue,
a clipped (saturated) ADC channel never enters the trigger.

The noise of a sum is one Gaussian number per event and sum (its sigma from the channels' noise
and gains, ``sum_noise_sigmas``); the digitisation then draws the channel noise *conditioned on*
that sum (a Gaussian bridge), so that both are the same realisation. Events that a generator
thinned by an upper bound of their trigger probability (``EventBatch.trigger_prior``, the
em_shower tail) are kept with P(ECAL term) / bound, and their ECAL-sum noise is drawn
conditioned on passing: the recorded sample is exactly that of an unthinned draw.

Digitisation: raw = pedestal + gain * E + noise (ADC, float32, quantised to 1/8 ADC) clipped at
0 and at the channel's ``saturation`` (``ChannelElectronics.saturation_adc``); time = pulse time
+ t0 + jitter (quantised to 1/16 ns). Two pulses in one channel closer than ``pulse_merge_ns``
are summed (amplitude-weighted time); otherwise the waveform fit reports the larger one. A
channel without signal reports noise and the time of its largest noise sample (a multiple of
the 12.5 ns sampling period) in the read-out window (a pulse is found when signal plus noise is
above 3 noise sigmas and the signal above one). Dead channels have no signal response; absent
channels read 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from na64reco.conditions.periods import RunPeriod
from na64reco.conditions.response import ELECTRONICS, PULSE_THRESHOLD_SIGMAS, RESPONSE, Response
from na64reco.conditions.truth_calibration import STATUS_ABSENT, STATUS_DEAD
from na64reco.eventtree import contract
from na64reco.sim.batch import EventBatch
from na64reco.sim.deposits import DETECTOR_SHAPES

AMPLITUDE_QUANTUM_ADC = 0.125  # [choose] below the noise; lets ZSTD compress the mantissa
TIME_QUANTUM_NS = 0.0625  # [choose]
# The waveform fit finds a channel's pulse (and reports its time) when the measured amplitude is
# above 3 noise sigmas, the threshold of the reconstruction's zero suppression, and the signal
# itself is at least 1 sigma [choose]; otherwise it reports the time of a noise sample.
NO_SIGNAL_SIGMAS = PULSE_THRESHOLD_SIGMAS
MIN_SIGNAL_SIGMAS = 1.0
# Without a pulse the waveform analysis returns the time of the largest noise sample: a multiple
# of the 12.5 ns sampling period of the 80 MHz MSADCs [choose] anywhere in the read-out window.
SAMPLING_PERIOD_NS = 12.5
MAX_JITTER_NS = 10.0
# A thinned event whose trigger probability exceeds its generator's bound by more than this
# (relative) is counted as a bound violation (the bound must hold: see generate_em_shower).
BOUND_TOLERANCE = 1e-9


def gated(batch: EventBatch, detector: str, gate_ns: float) -> np.ndarray:
    """In-time deposits plus those of pile-up within the gate."""
    intime = getattr(batch.intime, detector)
    pile = getattr(batch.pileup, detector)
    inside = np.abs(np.nan_to_num(batch.pileup_dt, nan=1e9)) < gate_ns
    shape = (-1,) + (1,) * (intime.ndim - 1)
    return intime + pile * inside.reshape(shape)


def _gated_section_sums(batch: EventBatch, usable: np.ndarray, gate_ns: float) -> np.ndarray:
    """(n, 2) in-gate ECAL deposits per section in the channels with signal (the sums of
    ``gated`` x ``usable`` without its temporaries)."""
    w = usable.astype(float)
    intime = np.einsum("nsxy,sxy->ns", batch.intime.ecal, w)
    pile = np.einsum("nsxy,sxy->ns", batch.pileup.ecal, w)
    inside = np.abs(np.nan_to_num(batch.pileup_dt, nan=1e9)) < gate_ns
    return intime + pile * inside[:, None]


def signal_channels(constants: dict) -> np.ndarray:
    """Channels of one detector that give a signal: neither dead nor absent."""
    status = constants["status"]
    return (status != STATUS_DEAD) & (status != STATUS_ABSENT)


def sum_weights(constants: dict) -> np.ndarray:
    """GeV per ADC count of each channel in an analogue sum (0 for channels without signal)."""
    return np.where(signal_channels(constants), 1.0 / constants["gain"], 0.0)


def sum_noise_sigmas(constants: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Sigma [GeV] of the noise of the analogue sums: ``ps``, ``main`` (ECAL sections) and
    ``ecal`` (their sum); ``counter`` (4,) per counter channel."""
    w = sum_weights(constants["ecal"])
    var = ((w * constants["ecal"]["noise"]) ** 2).sum(axis=(1, 2))
    cw = sum_weights(constants["counter"])
    return {
        "ps": np.sqrt(var[0]),
        "main": np.sqrt(var[1]),
        "ecal": np.sqrt(var.sum()),
        "counter": cw * constants["counter"]["noise"],
    }


@dataclass
class AnalogueNoise:
    """Per event: the noise of the ECAL sections' analogue sums [GeV] and the counter channels'
    noise [ADC], which the digitisation reproduces channel by channel."""

    ps: np.ndarray
    main: np.ndarray
    counter: np.ndarray  # (n, 4)

    def take(self, index: np.ndarray) -> AnalogueNoise:
        return AnalogueNoise(self.ps[index], self.main[index], self.counter[index])


@dataclass
class TriggerDecision:
    """The physics-trigger decision (before the trigger efficiency), its terms, the analogue
    noise of each event, and the bookkeeping of thinned events."""

    fired: np.ndarray
    terms: dict[str, np.ndarray]
    noise: AnalogueNoise
    thinned: int  # events with a trigger_prior below 1
    thinned_kept: int  # of those, kept by the ECAL-term acceptance
    bound_violations: int  # thinned events whose ECAL-term probability exceeded their bound


def analogue_trigger(
    rng: np.random.Generator,
    batch: EventBatch,
    period: RunPeriod,
    constants: dict[str, dict[str, np.ndarray]],
    resp: Response = RESPONSE,
) -> TriggerDecision:
    """Tr(X) of the hardware on the analogue sums of every event of ``batch`` (module docstring)."""
    trig = period.trigger
    n = len(batch)
    sig = sum_noise_sigmas(constants)
    dep = _gated_section_sums(batch, signal_channels(constants["ecal"]), trig.gate_ns)
    dep_ps = dep[:, 0]
    dep_ecal = dep_ps + dep[:, 1]
    eta_ps = sig["ps"] * rng.standard_normal(n)
    eta_main = sig["main"] * rng.standard_normal(n)
    total = eta_ps + eta_main
    prior = batch.trigger_prior
    thinned = np.flatnonzero(prior < 1.0)
    rejected = np.zeros(n, dtype=bool)
    violations = kept = 0
    if len(thinned):
        room = trig.ecal_max_gev - dep_ecal[thinned]  # the noise must stay below this
        p_pass = special.ndtr(room / sig["ecal"])
        violations = int(np.count_nonzero(p_pass > prior[thinned] * (1 + BOUND_TOLERANCE)))
        accept = rng.random(len(thinned)) * prior[thinned] < p_pass
        u = rng.random(len(thinned)) * np.where(accept, p_pass, 0.5)
        below = sig["ecal"] * special.ndtri(np.clip(u, 1e-300, None))  # truncated: < room
        total[thinned] = np.where(accept, below, total[thinned])
        rejected[thinned] = ~accept
        kept = int(accept.sum())
    # split the ECAL-sum noise into its sections (exact conditional; identity when unconditioned)
    s_ps = eta_ps + (sig["ps"] ** 2 / sig["ecal"] ** 2) * (total - eta_ps - eta_main)
    noise = AnalogueNoise(
        ps=s_ps,
        main=total - s_ps,
        counter=constants["counter"]["noise"] * rng.standard_normal((n, 4)),
    )
    counters = gated(batch, "counter", trig.gate_ns) * signal_channels(constants["counter"])
    counters = counters + noise.counter * sum_weights(constants["counter"])
    mip = resp.counter_mip_gev
    terms = {
        "s_counters": np.all(counters[:, :3] > trig.counter_min_mip * mip, axis=1),
        "no_v1": ~(counters[:, 3] > trig.veto_v1_min_mip * mip),
        "ps_above": dep_ps + noise.ps > trig.ps_min_gev,
        "ecal_below": (dep_ecal + total < trig.ecal_max_gev) & ~rejected,
    }
    fired = terms["s_counters"] & terms["no_v1"] & terms["ps_above"] & terms["ecal_below"]
    violations += batch.bound_violations  # those the generator found before the trigger
    return TriggerDecision(fired, terms, noise, len(thinned), kept, violations)


def unconditioned_noise(
    rng: np.random.Generator, n: int, constants: dict[str, dict[str, np.ndarray]]
) -> AnalogueNoise:
    """Analogue noise of n events that no trigger decision conditioned (calibration runs)."""
    sig = sum_noise_sigmas(constants)
    return AnalogueNoise(
        ps=sig["ps"] * rng.standard_normal(n),
        main=sig["main"] * rng.standard_normal(n),
        counter=constants["counter"]["noise"] * rng.standard_normal((n, 4)),
    )


def physics_trigger(batch: EventBatch, period: RunPeriod, resp: Response = RESPONSE) -> np.ndarray:
    """Tr(X) on the true in-gate deposits, without read-out noise (truth-level studies).

    Exact also for thinned events (``trigger_prior`` < 1): a generator thins only events whose
    noise-free ECAL sum is above the threshold (``generate_em_shower``), which this never fires.
    """
    trig = period.trigger
    ecal = gated(batch, "ecal", trig.gate_ns)
    counters = gated(batch, "counter", trig.gate_ns)
    e_ps = ecal[:, 0].sum(axis=(1, 2))
    e_tot = ecal.sum(axis=(1, 2, 3))
    s_ok = np.all(counters[:, :3] > trig.counter_min_mip * resp.counter_mip_gev, axis=1)
    v1 = counters[:, 3] > trig.veto_v1_min_mip * resp.counter_mip_gev
    return s_ok & ~v1 & (e_ps > trig.ps_min_gev) & (e_tot < trig.ecal_max_gev)


def _ecal_noise(
    rng: np.random.Generator, n: int, constants: dict, noise: AnalogueNoise
) -> np.ndarray:
    """ECAL channel noise [ADC] (n, 2, 6, 6) whose weighted section sums are ``noise.ps`` and
    ``noise.main``: iid Gaussian noise shifted along its covariance (the exact conditional)."""
    c = constants["ecal"]
    s = c["noise"]
    eta = s * rng.standard_normal((n, *s.shape))
    w = sum_weights(c)
    var = ((w * s) ** 2).sum(axis=(1, 2))  # per section
    target = np.stack([noise.ps, noise.main], axis=1)  # (n, 2)
    missing = target - (w * eta).sum(axis=(2, 3))
    return eta + (w * s**2 / var[:, None, None])[None] * missing[:, :, None, None]


def digitize(
    rng: np.random.Generator,
    batch: EventBatch,
    constants: dict[str, dict[str, np.ndarray]],
    noise: AnalogueNoise,
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
        if det == "ecal":
            channel_noise = _ecal_noise(rng, n, constants, noise)
        elif det == "counter":
            channel_noise = noise.counter
        else:
            channel_noise = c["noise"] * rng.standard_normal((n, *shape))
        amp = c["pedestal"] + signal + channel_noise
        # time: jitter grows for small pulses; no pulse -> the fit lands anywhere in the window
        el_sigma = _time_sigma(det)
        rel = c["noise"] / np.maximum(signal, 1e-9)
        jitter = np.minimum(el_sigma * np.sqrt(1 + (5 * rel) ** 2), MAX_JITTER_NS)
        has_pulse = (signal + channel_noise > NO_SIGNAL_SIGMAS * c["noise"]) & (
            signal > MIN_SIGNAL_SIGMAS * c["noise"]
        )
        t = np.where(
            has_pulse,
            t_pulse + c["t0"] + jitter * rng.standard_normal((n, *shape)),
            SAMPLING_PERIOD_NS
            * rng.integers(
                -int(window / SAMPLING_PERIOD_NS), int(window / SAMPLING_PERIOD_NS) + 1, (n, *shape)
            ),
        )
        amp = np.clip(amp, 0.0, c["saturation"])
        absent = status == STATUS_ABSENT
        amp = np.where(absent, 0.0, amp)
        t = np.where(absent, 0.0, t)
        out[f"{det}_amp"] = (np.round(amp / AMPLITUDE_QUANTUM_ADC) * AMPLITUDE_QUANTUM_ADC).astype(
            np.float32
        )
        out[f"{det}_t"] = (np.round(t / TIME_QUANTUM_NS) * TIME_QUANTUM_NS).astype(np.float32)
    return out


def _time_sigma(detector: str) -> float:
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


__all__ = [
    "AnalogueNoise",
    "TriggerDecision",
    "analogue_trigger",
    "contract",
    "digitize",
    "physics_trigger",
    "sum_noise_sigmas",
    "truth_deposits",
    "unconditioned_noise",
]
