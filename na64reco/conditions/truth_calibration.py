"""The *true* calibration constants of the simulated detector, per run period.

Simulated raw data are made with these constants (raw = pedestal + gain * E + noise); a
calibration derived from simulated calibration runs must recover them (closure). They depend only
on the period and a calibration epoch, never on the simulation seed, so that calibration runs and
physics runs of one period share the same detector.

Every detector also carries ``saturation`` [ADC]: the raw amplitude at which its channel's ADC
clips (``ChannelElectronics.saturation_adc`` of its electronics type, the same for every channel of
a type: the ADC range, not a calibrated number).

Status codes: 0 good, 1 dead (no signal response), 2 noisy (noise x NOISY_FACTOR), 3 absent
(not instrumented, e.g. the sixth ECAL column in 2021-2022: amplitude and time read 0).
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from na64reco.conditions.periods import get_period
from na64reco.conditions.response import ELECTRONICS, electronics_key
from na64reco.eventtree import contract

STATUS_GOOD, STATUS_DEAD, STATUS_NOISY, STATUS_ABSENT = 0, 1, 2, 3
NOISY_FACTOR = 8.0  # [choose] a noisy channel has 8x the nominal noise
# Detector-level cable/trigger delays added to the per-channel t0 spread [choose], ns
DETECTOR_DELAY_NS = {"ecal": 12.0, "hcal": 25.0, "srd": -8.0, "veto": 18.0, "counter": -20.0}


@lru_cache(maxsize=32)
def _true_calibration(period_name: str, epoch: int) -> dict:
    period = get_period(period_name)
    seed = np.random.SeedSequence([int(period_name), epoch, zlib.crc32(b"na64-true-calib")])
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for det in contract.CALORIMETER_DETECTORS:
        shape = contract.DETECTOR_SHAPES[det]
        ped = np.empty(shape)
        gain = np.empty(shape)
        noise = np.empty(shape)
        t0 = np.empty(shape)
        saturation = np.empty(shape)
        sections = (0, 1) if det == "ecal" else (None,)
        for sec in sections:
            el = ELECTRONICS[electronics_key(det, sec)]
            sl = (sec,) if sec is not None else ()
            sub_shape = shape[1:] if sec is not None else shape
            ped[sl] = rng.normal(el.pedestal_adc, el.pedestal_spread_adc, sub_shape)
            # gains: log-normal spread between channels [choose 12-15%, issue 2 asks 10-20%]
            gain[sl] = el.gain_adc_per_gev * rng.lognormal(0.0, el.gain_spread, sub_shape)
            noise[sl] = el.noise_adc * rng.uniform(0.8, 1.2, sub_shape)
            t0[sl] = DETECTOR_DELAY_NS[det] + rng.normal(0.0, el.t0_spread_ns, sub_shape)
            saturation[sl] = el.saturation_adc
        status = np.zeros(shape, dtype=np.int8)
        out[det] = {
            "pedestal": ped,
            "gain": gain,
            "noise": noise,
            "t0": t0,
            "status": status,
            "saturation": saturation,
        }

    geom = period.geometry
    ecal_status = out["ecal"]["status"]
    if geom.ecal_nx < contract.ECAL_SHAPE[1]:
        ecal_status[:, geom.ecal_nx :, :] = STATUS_ABSENT
    # A few dead or noisy channels, away from the 3x3 cells around the beam cell (a dead beam
    # cell would have stopped data taking) [choose]: ECAL one dead and one noisy, HCAL one dead.
    bx, by = geom.beam_cell
    candidates = [
        (s, x, y)
        for s in (0, 1)
        for x in range(geom.ecal_nx)
        for y in range(contract.ECAL_SHAPE[2])
        if max(abs(x - bx), abs(y - by)) > 1
    ]
    picks = rng.choice(len(candidates), size=2, replace=False)
    ecal_status[candidates[picks[0]]] = STATUS_DEAD
    ecal_status[candidates[picks[1]]] = STATUS_NOISY
    # HCAL: never the central cell, which the beam axis (and every straight muon) crosses
    hcal_candidates = [
        (m, x, y) for m in range(1, 4) for x in range(3) for y in range(3) if (x, y) != (1, 1)
    ]
    hcal_pick = hcal_candidates[rng.integers(len(hcal_candidates))]
    out["hcal"]["status"][hcal_pick] = STATUS_DEAD
    for det in contract.CALORIMETER_DETECTORS:
        noisy = out[det]["status"] == STATUS_NOISY
        out[det]["noise"][noisy] *= NOISY_FACTOR
    n_mm = len(geom.mm_stations)
    n_st = len(geom.straw_stations)
    out["mm"] = {"t0": DETECTOR_DELAY_NS["counter"] + rng.normal(0.0, 3.0, n_mm)}
    out["straw"] = {"t0": 40.0 + rng.normal(0.0, 4.0, n_st), "drift_max_ns": np.full(n_st, 60.0)}
    for det in out.values():
        for arr in det.values():
            arr.flags.writeable = False
    return out


def true_calibration(period: str, epoch: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """True constants per detector: pedestal [ADC], gain [ADC/GeV], noise [ADC], t0 [ns], status,
    saturation [ADC].

    ``mm`` and ``straw`` carry per-station time offsets (and the straw maximal drift time).
    Arrays are read-only and cached.
    """
    return _true_calibration(str(period), int(epoch))


def to_json(constants: dict[str, dict[str, np.ndarray]]) -> dict:
    """Nested lists, for the file metadata."""
    return {
        det: {k: np.round(v, 6).tolist() for k, v in fields.items()}
        for det, fields in constants.items()
    }
