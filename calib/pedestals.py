"""Pedestals, noise and channel status from random triggers."""

from __future__ import annotations

import logging

import numpy as np

from na64reco.calib import estimators as est
from na64reco.calib.parameters import BUSY_SIGMAS, MIN_PEDESTAL_EVENTS, NOISY_FACTOR
from na64reco.calib.streams import Report, as_float64, channel_name, type_groups
from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    STATUS_ABSENT,
    STATUS_GOOD,
    STATUS_NOISY,
    CalibrationError,
)
from na64reco.eventtree import contract

logger = logging.getLogger(__name__)

# --- pedestals ----------------------------------------------------------------------------------


def derive_pedestals(random: dict, report: Report) -> dict[str, dict[str, np.ndarray]]:
    """Pedestal, noise and status (good/noisy/absent) of every calorimeter-type channel."""
    amps = {det: as_float64(random, f"{det}_amp") for det in CALORIMETER_DETECTORS}
    n = len(random["trigger"])
    busy = np.zeros(n, dtype=bool)
    first = {}
    for det, a in amps.items():
        med = np.median(a, axis=0)
        mad = est.MAD_TO_SIGMA * np.median(np.abs(a - med), axis=0)
        absent = np.all(a == 0, axis=0)
        first[det] = (med, mad, absent)
        sig = (a - med) / np.maximum(mad, 0.125)
        busy |= np.any((sig > BUSY_SIGMAS) & ~absent, axis=tuple(range(1, a.ndim)))
    quiet = ~busy
    if quiet.sum() < MIN_PEDESTAL_EVENTS:
        raise CalibrationError(
            f"only {int(quiet.sum())} of {n} random triggers are free of pile-up "
            f"(need {MIN_PEDESTAL_EVENTS}) for the pedestals"
        )
    logger.info("pedestals from %d quiet of %d random triggers", int(quiet.sum()), n)
    out = {}
    for det, a in amps.items():
        shape = contract.DETECTOR_SHAPES[det]
        ped = np.zeros(shape)
        noise = np.zeros(shape)
        status = np.full(shape, STATUS_GOOD, dtype=np.int8)
        absent = first[det][2]
        aq = a[quiet]
        for idx in np.ndindex(shape):
            if absent[idx]:
                status[idx] = STATUS_ABSENT
                continue
            ped[idx], noise[idx], _ = est.clipped_mean_rms(aq[(slice(None), *idx)])
        for group in type_groups(det):
            sub_noise = noise[group]
            live = status[group] != STATUS_ABSENT
            if not live.any():
                continue
            typical = float(np.median(sub_noise[live]))
            noisy = live & (sub_noise > NOISY_FACTOR * typical)
            for sub in zip(*np.nonzero(noisy), strict=True):
                full = (*group, *sub)
                status[full] = STATUS_NOISY
                report.add(
                    det,
                    channel_name(det, full),
                    "noise",
                    f"noise {noise[full]:.2f} ADC > {NOISY_FACTOR:g} x typical {typical:.2f} ADC",
                    "flagged noisy",
                )
        out[det] = {"pedestal": ped, "noise": noise, "status": status}
    out["_quiet_events"] = int(quiet.sum())  # type: ignore[assignment]
    return out
