"""Screens of raw values: compiled one-pass range checks and the checks that need conditions.

``reader.check_values`` uses ``all_within``/``all_in_range`` as its fast path. The checks below
need what the event tree does not hold, passed in by the caller (this layer imports neither the
conditions nor the calibration; the arguments are duck-typed):

* ``check_hit_indices(path, arrays, entries, geometry)``: every Micromegas/straw hit names a
  station of the period's geometry, plane 0 or 1, and a strip/wire below the station's channel
  count (``geometry.mm_stations[i].n_channels``);
* ``check_pedestals(path, arrays, entries, constants)``: no amplitude of a channel in use (status
  good or noisy) lies more than ``PEDESTAL_SIGMAS`` noise sigmas below its pedestal: a raw ADC
  value holds the pedestal, so such a value is not a reading of that channel;
* ``duplicate_ids(path, run, spill, event, start)``: every (run, spill, event) once.

``entries``: the entry number of each event of ``arrays`` in its file. Each raises
``InputFileError(path, "branch <name>", problem)`` naming the entry and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from numba import njit

from na64reco.errors import InputFileError

__all__ = [
    "PEDESTAL_SIGMAS",
    "all_in_range",
    "all_within",
    "check_hit_indices",
    "check_pedestals",
    "duplicate_ids",
]

#: an amplitude this many noise sigmas below its channel's pedestal is not a reading [choose:
#: Gaussian noise gets there once in 1e23 samples; a drifted pedestal of a few sigmas is not
#: flagged]
PEDESTAL_SIGMAS = 10.0
#: the calorimeter-type detectors whose ``<det>_amp`` holds one value per channel
_CHANNEL_DETECTORS = ("ecal", "hcal", "srd", "veto", "counter")


@njit(cache=True)
def _all_within(flat, limit):
    ok = True
    for i in range(flat.size):
        ok &= abs(flat[i]) <= limit  # False for NaN; an infinity exceeds any finite limit
    return ok


@njit(cache=True)
def _all_in_range(flat, lo, hi):
    ok = True
    for i in range(flat.size):
        ok &= (flat[i] >= lo) & (flat[i] <= hi)  # False for NaN and infinities
    return ok


def _flat_float(values: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype.kind != "f":
        raise TypeError(f"expected a float array, got {flat.dtype}")
    return flat


def all_within(values: np.ndarray, limit: float) -> bool:
    """True when every value is finite and ``|value| <= limit`` (``limit`` finite).

    One vectorised pass instead of numpy's min and max (two passes); a float32 array is
    compared with ``limit`` as float32, as numpy does for a float32 array and a Python float.
    """
    flat = _flat_float(values)
    return bool(_all_within(flat, flat.dtype.type(limit)))


def all_in_range(values: np.ndarray, lo: float, hi: float) -> bool:
    """True when every value is finite and ``lo <= value <= hi`` (one compiled pass)."""
    flat = _flat_float(values)
    return bool(_all_in_range(flat, flat.dtype.type(lo), flat.dtype.type(hi)))


def _first(entries: np.ndarray, bad: np.ndarray) -> tuple[int, int]:
    """(number of events with a bad value, the first such entry) of a per-hit mask."""
    rows = entries[bad]
    return len(np.unique(rows)), int(rows[0])


@njit(cache=True)
def _hits_inside(station, plane, number, n_channels):
    """True when every hit names an existing station, plane 0/1 and a channel of it."""
    n_stations = n_channels.size
    for i in range(station.size):
        s = station[i]
        if s >= n_stations or plane[i] > 1 or number[i] >= n_channels[s]:
            return False
    return True


@njit(cache=True)
def _all_at_least(amp, floor):
    """True when every row of ``amp`` (events x channels) is >= ``floor`` (channels)."""
    for i in range(amp.shape[0]):
        for j in range(amp.shape[1]):
            if not amp[i, j] >= floor[j]:  # NaN too: the detailed pass then decides
                return False
    return True


def check_hit_indices(path: str | Path, arrays: dict, entries: np.ndarray, geometry: Any) -> None:
    """Hit station, plane and strip/wire inside the geometry (see the module docstring).

    One compiled pass over the hits; the detailed (numpy) pass that names the first bad hit
    runs only when that pass finds one."""
    for coll, stations, channel in (
        ("mm", geometry.mm_stations, "strip"),
        ("st", geometry.straw_stations, "wire"),
    ):
        hits = arrays.get(coll)
        if hits is None or len(hits) == 0:
            continue
        n_channels = np.array([s.n_channels for s in stations], dtype=np.int64)
        flat = {k: ak.to_numpy(ak.flatten(hits[k])) for k in ("station", "plane", channel)}
        if flat["station"].size == 0:
            continue
        if _hits_inside(flat["station"], flat["plane"], flat[channel], n_channels):
            continue
        counts = ak.to_numpy(ak.num(hits["station"], axis=1))
        hit_entries = np.repeat(np.asarray(entries), counts)
        station = flat["station"].astype(np.int64)
        plane = flat["plane"].astype(np.int64)
        number = flat[channel].astype(np.int64)
        checks = (
            ("station", station, station >= len(stations), f"below {len(stations)} (stations)"),
            ("plane", plane, plane > 1, "0 (x) or 1 (y)"),
        )
        for field, values, bad, allowed in checks:
            if bad.any():
                n, first = _first(hit_entries, bad)
                raise InputFileError(
                    path,
                    f"branch {coll}_{field}",
                    f"{int(bad.sum())} hit(s) outside the detector geometry in {n} event(s) "
                    f"(first at entry {first}: {int(values[bad][0])}; must be {allowed})",
                )
        limit = n_channels[station]
        bad = number >= limit
        if bad.any():
            n, first = _first(hit_entries, bad)
            i = int(np.flatnonzero(bad)[0])
            raise InputFileError(
                path,
                f"branch {coll}_{channel}",
                f"{int(bad.sum())} hit(s) outside the detector geometry in {n} event(s) (first "
                f"at entry {first}: {channel} {int(number[i])} of station {int(station[i])}, "
                f"which has {int(limit[i])})",
            )


def check_pedestals(path: str | Path, arrays: dict, entries: np.ndarray, constants: Any) -> None:
    """No amplitude of a channel in use far below its pedestal (see the module docstring);
    ``constants``: a calibration set (``constants.detector(det)``: pedestal, noise, status)."""
    for det in _CHANNEL_DETECTORS:
        amp = arrays.get(f"{det}_amp")
        if amp is None or len(amp) == 0:
            continue
        c = constants.detector(det)
        in_use = (c.status == 0) | (c.status == 2)
        floor = np.where(in_use, c.pedestal - PEDESTAL_SIGMAS * c.noise, -np.inf)
        floor = floor.astype(np.float32)
        amp = np.asarray(amp)
        rows2d = np.ascontiguousarray(amp).reshape(len(amp), -1)
        if rows2d.dtype.kind == "f" and _all_at_least(rows2d, floor.reshape(-1)):
            continue  # the usual case, in one compiled pass
        bad = amp < floor
        if not bad.any():
            continue
        rows = bad.reshape(len(bad), -1).any(axis=1)
        first = int(np.flatnonzero(rows)[0])
        channel = np.unravel_index(int(np.flatnonzero(bad[first].ravel())[0]), c.pedestal.shape)
        value = float(np.asarray(amp)[first][channel])
        raise InputFileError(
            path,
            f"branch {det}_amp",
            f"{int(bad.sum())} value(s) more than {PEDESTAL_SIGMAS:g} noise sigmas below the "
            f"channel's pedestal in {int(rows.sum())} event(s) (first at entry "
            f"{int(entries[first])}, channel {tuple(int(i) for i in channel)}: {value:g} ADC, "
            f"pedestal {float(c.pedestal[channel]):.4g} +- {float(c.noise[channel]):.2g})",
        )


def duplicate_ids(
    path: str | Path, run: np.ndarray, spill: np.ndarray, event: np.ndarray, start: int = 0
) -> None:
    """InputFileError if a (run, spill, event) appears more than once."""
    if len(run) < 2:
        return
    ids = np.rec.fromarrays(
        [np.asarray(run, np.int64), np.asarray(spill, np.int64), np.asarray(event, np.int64)]
    )
    order = np.argsort(ids, kind="stable")
    same = ids[order][1:] == ids[order][:-1]
    if not same.any():
        return
    k = int(np.flatnonzero(same)[0])
    a, b = sorted((int(order[k]), int(order[k + 1])))
    r = ids[order[k]]
    raise InputFileError(
        path,
        "branch event",
        f"{int(same.sum())} duplicated (run, spill, event) id(s) (first ({int(r[0])}, "
        f"{int(r[1])}, {int(r[2])}) at entries {start + a} and {start + b}): an event counted "
        "twice",
    )
