"""A CalibrationSet made from the simulation's true constants (for tests and closure studies)."""

from __future__ import annotations

import numpy as np

from na64reco.calibration.constants import CalibrationSet, DetectorConstants
from na64reco.conditions import RESPONSE, get_period
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.eventtree.contract import CALORIMETER_DETECTORS


def calibration_from_truth(period: str, epoch: int = 0) -> CalibrationSet:
    """The constants a perfect calibration would find for ``period`` (no shower profile)."""
    p = get_period(period)
    truth = true_calibration(period, epoch)
    dets = {}
    for det in CALORIMETER_DETECTORS:
        t = truth[det]
        dets[det] = DetectorConstants(
            pedestal=np.array(t["pedestal"]),
            gain=1.0 / np.array(t["gain"]),
            noise=np.array(t["noise"]),
            t0=np.array(t["t0"]),
            status=np.array(t["status"], dtype=np.int8),
        )
    mip_adc = RESPONSE.counter_mip_gev * np.array(truth["counter"]["gain"])
    straw_t0 = np.array(truth["straw"]["t0"])
    window = np.stack([straw_t0, straw_t0 + np.array(truth["straw"]["drift_max_ns"])], axis=1)
    return CalibrationSet(
        name=f"truth-{period}",
        version=0,
        description=f"true constants of the simulated {period} detector (epoch {epoch})",
        period=period,
        run_min=p.first_run,
        run_max=p.last_run,
        mm_t0=np.array(truth["mm"]["t0"]),
        straw_window_ns=window,
        counter_threshold_adc=p.trigger.counter_min_mip * mip_adc,
        shower_profile=None,
        provenance={"source": "truth"},
        **dets,
    )
