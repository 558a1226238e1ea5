"""The value checks of every read of event data (``check_values``) and the hit-count agreement
of a hit collection's fields (``check_hit_counts``); see ``na64reco.eventtree.reader``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from na64reco.errors import InputFileError
from na64reco.eventtree import contract
from na64reco.eventtree.value_screen import all_in_range, all_within

__all__ = ["TIME_LIMIT_NS", "VALUE_BRANCHES", "check_hit_counts", "check_values", "value_problem"]

#: |time| above this [ns] is not a read-out time: the digitisers' window is +-100 ns around the
#: trigger, the straw TDCs' ~0-250 ns; ten times the window leaves any real converter room
TIME_LIMIT_NS = 1000.0

_COLLECTIONS: dict[str, list[contract.JaggedBranch]] = {}
for _b in contract.JAGGED_BRANCHES:
    _COLLECTIONS.setdefault(_b.collection, []).append(_b)
_JAGGED = {b.name: b for b in contract.JAGGED_BRANCHES}
_FIXED = {b.name: b for b in contract.ALL_FIXED_BRANCHES}
#: the detector amplitude and time branches whose values are checked (``check_values``)
VALUE_BRANCHES = {
    b.name for b in contract.FIXED_BRANCHES + contract.JAGGED_BRANCHES if b.dtype.kind == "f"
}


def value_problem(name: str, values: np.ndarray, entries: np.ndarray) -> str | None:
    """What is wrong with the values of one float branch (None if nothing).

    ``entries``: the entry number of each row of ``values`` (of each hit for a hit field).
    """
    bad = ~np.isfinite(values)
    what = "non-finite"
    if not bad.any() and name.endswith("_t"):
        bad = np.abs(values) > TIME_LIMIT_NS
        what = f"outside +-{TIME_LIMIT_NS:g} ns of the trigger"
    if not bad.any() and name.endswith("_amp"):
        bad = (values < 0) | (values > contract.ADC_MAX)
        what = f"outside the ADC range [0, {contract.ADC_MAX:g}] (12-bit digitisers)"
    if not bad.any():
        return None
    rows = entries[bad.reshape(len(bad), -1).any(axis=1)]
    return (
        f"{int(bad.sum())} value(s) {what} in {len(np.unique(rows))} event(s) "
        f"(first at entry {int(rows[0])}: {float(values[bad].flat[0]):g})"
    )


def _clean(name: str, values: np.ndarray) -> bool:
    """Fast screen (one compiled pass, no temporaries): True when ``value_problem`` would find
    nothing; False sends the values to ``value_problem`` for the message."""
    if name.endswith("_amp"):
        return all_in_range(values, 0.0, contract.ADC_MAX)
    limit = TIME_LIMIT_NS if name.endswith("_t") else float(np.finfo(values.dtype).max)
    return all_within(values, limit)


def check_values(path: str | Path, arrays: dict, entry_start: int = 0) -> dict[str, int]:
    """Raise InputFileError naming the branch if an amplitude or time is non-finite or absurd
    (an amplitude outside the digitisers' range [0, ADC_MAX], a time beyond TIME_LIMIT_NS).

    ``arrays``: a writer-style dict (fixed branches as numpy arrays, ``"mm"``/``"st"`` as awkward
    records) of the entries from ``entry_start`` on; other keys are ignored. Returns the
    saturated readings (amplitude == ADC_MAX, valid) per channel branch (only non-zero counts).
    """
    saturated: dict[str, int] = {}
    for spec in contract.FIXED_BRANCHES:
        values = arrays.get(spec.name)
        if values is None or spec.dtype.kind != "f":
            continue
        values = np.asarray(values)
        if values.size == 0:
            continue
        if not _clean(spec.name, values):
            entries = np.arange(entry_start, entry_start + len(values))
            problem = value_problem(spec.name, values, entries)
            if problem:
                raise InputFileError(path, f"branch {spec.name}", problem)
        if spec.name.endswith("_amp"):
            n_saturated = int(np.count_nonzero(values == np.float32(contract.ADC_MAX)))
            if n_saturated:
                saturated[spec.name] = n_saturated
    for coll, specs in _COLLECTIONS.items():
        hits = arrays.get(coll)
        if hits is None or len(hits) == 0:
            continue
        for spec in specs:
            if spec.dtype.kind != "f" or spec.field not in ak.fields(hits):
                continue
            column = hits[spec.field]
            values = ak.to_numpy(ak.flatten(column, axis=None))
            if values.size == 0 or _clean(spec.name, values):
                continue
            counts = ak.to_numpy(ak.num(column, axis=1))
            entries = np.repeat(np.arange(entry_start, entry_start + len(counts)), counts)
            problem = value_problem(spec.name, values, entries)
            if problem:
                raise InputFileError(path, f"branch {spec.name}", problem)
    return saturated


def check_hit_counts(path: Path, columns: list[tuple[str, Any]], start: int) -> None:
    """The hit fields of one collection must hold the same number of hits in every entry."""
    ref_name, ref = columns[0]
    ref_counts = ak.to_numpy(ak.num(ref, axis=1))
    for name, column in columns[1:]:
        counts = ak.to_numpy(ak.num(column, axis=1))
        if len(counts) != len(ref_counts):
            problem = f"{len(counts)} entries, {ref_name} has {len(ref_counts)}"
        elif not np.array_equal(counts, ref_counts):
            bad = np.flatnonzero(counts != ref_counts)
            problem = (
                f"hit counts differ from {ref_name} in {bad.size} event(s) (first at entry "
                f"{start + int(bad[0])}: {int(counts[bad[0]])} vs {int(ref_counts[bad[0]])})"
            )
        else:
            continue
        raise InputFileError(path, f"branch {name}", problem)
