"""Timing: per-channel t0, the pile-up tag of calibration events, MM t0 and straw windows."""

from __future__ import annotations

import awkward as ak
import numpy as np

from na64reco.calib import estimators as est
from na64reco.calib.parameters import MIN_ENTRIES, MIN_SCAN_ENTRIES, PILEUP_SIGMAS, PULSE_SIGMAS
from na64reco.calib.streams import Report, as_float64, channel_name
from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    STATUS_ABSENT,
)
from na64reco.conditions import get_period
from na64reco.conditions.response import ELECTRONICS
from na64reco.eventtree import contract

# --- timing -------------------------------------------------------------------------------------


def _time_sigma(det: str, idx: tuple) -> float:
    key = ("ecal_ps" if idx[0] == 0 else "ecal_main") if det == "ecal" else det
    return ELECTRONICS[key].time_sigma_ns


def derive_t0(
    events: dict, peds: dict, report: Report
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """t0 and in-time width per channel (NaN where not measurable) and the pulse counts."""
    t0s, widths, counts = {}, {}, {}
    for det in CALORIMETER_DETECTORS:
        shape = contract.DETECTOR_SHAPES[det]
        p = peds[det]
        a = as_float64(events, f"{det}_amp") - p["pedestal"]
        t = as_float64(events, f"{det}_t")
        pulse = a > PULSE_SIGMAS * np.maximum(p["noise"], 0.125)
        t0 = np.full(shape, np.nan)
        width = np.full(shape, np.nan)
        cnt = pulse.sum(axis=0)
        for idx in np.ndindex(shape):
            if p["status"][idx] == STATUS_ABSENT or cnt[idx] < MIN_SCAN_ENTRIES:
                continue
            res = est.peak_centre(t[(slice(None), *idx)][pulse[(slice(None), *idx)]], 2.0)
            if res is None:
                report.add(det, channel_name(det, idx), "t0", "in-time peak not found", "no t0")
                continue
            t0[idx], width[idx], _ = res
        t0s[det], widths[det], counts[det] = t0, width, cnt
    return t0s, widths, counts


def pileup_tag(events: dict, peds: dict, t0s: dict, widths: dict) -> np.ndarray:
    """Events with a large out-of-time pulse in the ECAL, HCAL or S counters."""
    n = len(events["trigger"])
    tag = np.zeros(n, dtype=bool)
    for det in ("ecal", "hcal", "counter"):
        p = peds[det]
        a = as_float64(events, f"{det}_amp") - p["pedestal"]
        t = as_float64(events, f"{det}_t")
        big = a > PILEUP_SIGMAS * np.maximum(p["noise"], 0.125)
        known = np.isfinite(t0s[det]) & (p["status"] != STATUS_ABSENT)
        if det == "counter":
            known[3] = False  # V1 fires on halo in time or not: not a pile-up tag
        cut = np.maximum(4 * np.nan_to_num(widths[det], nan=1.0), 6.0)
        late = np.abs(t - np.nan_to_num(t0s[det])) > cut
        tag |= np.any(big & late & known, axis=tuple(range(1, a.ndim)))
    return tag


# --- trackers -----------------------------------------------------------------------------------


def derive_tracker_times(
    events: dict, period: str, report: Report
) -> tuple[np.ndarray, np.ndarray]:
    """MM t0 per station and the straw in-time window per station."""
    g = get_period(period).geometry
    mm_t0 = np.full(len(g.mm_stations), np.nan)
    window = np.full((len(g.straw_stations), 2), np.nan)
    mm = events.get("mm")
    st = events.get("st")
    if mm is not None:
        station = ak.to_numpy(ak.flatten(mm.station))
        t = ak.to_numpy(ak.flatten(mm.t)).astype(float)
        for i, s in enumerate(g.mm_stations):
            res = est.peak_centre(t[station == i], s.time_sigma_ns)
            if res is None or res[2] < MIN_ENTRIES:
                report.add("mm", s.name, "t0", "too few in-time hits", "no t0")
            else:
                mm_t0[i] = res[0]
    if st is not None:
        station = ak.to_numpy(ak.flatten(st.station))
        t = ak.to_numpy(ak.flatten(st.t)).astype(float)
        for i, s in enumerate(g.straw_stations):
            res = est.fit_drift_window(t[station == i], s.time_sigma_ns)
            if res is None:
                report.add("straw", s.name, "window", "drift-time fit failed", "no window")
            else:
                window[i] = (res["lo"], res["hi"])
    return mm_t0, window
