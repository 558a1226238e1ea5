"""Open and validate schema-v1 event files.

``open_event_file(path)`` checks, in this order, and raises ``InputFileError(path, item,
problem)`` (``SchemaVersionError`` for the version) at the first failure:

1. the file exists and starts with the ROOT magic ``root``; uproot can open it;
2. the file is complete: its size reaches the header's ``fEND`` and every basket of every
   branch lies inside the file; with ``check_data=True`` (default) the first and last entry of
   every branch are read and decompressed;
3. a TTree ``events`` exists (otherwise the keys found are listed);
4. the TObjString ``na64_metadata`` exists and holds a JSON object with a known
   ``schema_version``;
5. every contract branch exists with the contract dtype and shape; jagged branches are counted
   by ``nmm``/``nst`` (int32); optional ``mc_*`` branches, when present, have their contract
   type. Extra branches are allowed.

Values: amplitudes (``*_amp``) must be finite, times (``*_t``) finite and within
``TIME_LIMIT_NS`` of the trigger (negative times are normal: times are relative to the trigger).
``check_values`` enforces this on every array read: the entries read on open (``check_data``),
every ``EventFile.arrays`` call (``scan_values`` reads them all) and every chunk of the
``SelectionProcessor``. A bad value is corrupt input, never repaired: ``InputFileError(path,
"branch <name>", "<k> value(s) non-finite in <m> event(s) (first at entry <i>: nan)")`` or
``"... outside +-1000 ns of the trigger ..."``. ``arrays`` also checks that the hit fields of a
collection agree on the number of hits (a damaged basket's offsets).

An empty tree (0 entries) is valid: it is logged as a warning and ``num_entries`` is 0.
Errors from uproot or the OS while reading arrays later are also raised as InputFileError.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot
from uproot.interpretation.jagged import AsJagged
from uproot.interpretation.numerical import AsDtype

from na64reco.errors import InputFileError
from na64reco.eventtree import contract
from na64reco.eventtree.metadata import decode_metadata
from na64reco.eventtree.value_screen import all_in_range, all_within, duplicate_ids

logger = logging.getLogger(__name__)

__all__ = ["TIME_LIMIT_NS", "EventFile", "check_values", "open_event_file", "read_metadata"]

#: |time| above this [ns] is not a read-out time: the digitisers' window is +-100 ns around the
#: trigger, the straw TDCs' ~0-250 ns; ten times the window leaves any real converter room
TIME_LIMIT_NS = 1000.0

_COLLECTIONS: dict[str, list[contract.JaggedBranch]] = {}
for _b in contract.JAGGED_BRANCHES:
    _COLLECTIONS.setdefault(_b.collection, []).append(_b)
_JAGGED = {b.name: b for b in contract.JAGGED_BRANCHES}
_FIXED = {b.name: b for b in contract.ALL_FIXED_BRANCHES}
#: the detector amplitude and time branches whose values are checked (``check_values``)
_VALUE_BRANCHES = {
    b.name for b in contract.FIXED_BRANCHES + contract.JAGGED_BRANCHES if b.dtype.kind == "f"
}


def _value_problem(name: str, values: np.ndarray, entries: np.ndarray) -> str | None:
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
    """Fast screen (one compiled pass, no temporaries): True when ``_value_problem`` would find
    nothing; False sends the values to ``_value_problem`` for the message."""
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
            problem = _value_problem(spec.name, values, entries)
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
            problem = _value_problem(spec.name, values, entries)
            if problem:
                raise InputFileError(path, f"branch {spec.name}", problem)
    return saturated


def _check_hit_counts(path: Path, columns: list[tuple[str, Any]], start: int) -> None:
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


def _describe(interp: Any) -> str:
    if isinstance(interp, AsDtype):
        dt = interp.to_dtype
        return f"{dt.base}" + (f" with shape {list(dt.shape)}" if dt.shape else "")
    if isinstance(interp, AsJagged) and isinstance(interp.content, AsDtype):
        return f"jagged {interp.content.to_dtype}"
    return str(interp)


def _check_fixed(path: Path, tree: Any, spec: contract.FixedBranch) -> None:
    interp = tree[spec.name].interpretation
    expected = f"{spec.dtype}" + (f" with shape {list(spec.shape)}" if spec.shape else "")
    ok = (
        isinstance(interp, AsDtype)
        and interp.to_dtype.base == spec.dtype
        and interp.to_dtype.shape == spec.shape
    )
    if not ok:
        raise InputFileError(
            path,
            f"branch {spec.name}",
            f"wrong type: found {_describe(interp)} ({tree[spec.name].title}), expected {expected}",
        )


def _check_jagged(path: Path, tree: Any, spec: contract.JaggedBranch) -> None:
    branch = tree[spec.name]
    interp = branch.interpretation
    ok = (
        isinstance(interp, AsJagged)
        and isinstance(interp.content, AsDtype)
        and interp.content.to_dtype == spec.dtype
    )
    if not ok:
        raise InputFileError(
            path,
            f"branch {spec.name}",
            f"wrong type: found {_describe(interp)} ({branch.title}), "
            f"expected jagged {spec.dtype} counted by {spec.counter}",
        )
    count = branch.count_branch
    if count is not None and count.name != spec.counter:
        raise InputFileError(
            path,
            f"branch {spec.name}",
            f"counted by {count.name!r}, expected {spec.counter!r}",
        )


def _check_complete(path: Path, tree: Any, check_data: bool) -> None:
    size = os.path.getsize(path)
    for branch in tree.branches:
        seeks = branch.member("fBasketSeek")[: branch.num_baskets]
        nbytes = branch.member("fBasketBytes")[: branch.num_baskets]
        if len(seeks) and int(np.max(np.asarray(seeks) + np.asarray(nbytes))) > size:
            raise InputFileError(
                path, f"branch {branch.name}", f"truncated: a basket ends beyond {size} bytes"
            )
    n = tree.num_entries
    if check_data and n > 0:
        for start in sorted({0, n - 1}):
            try:
                raw = tree.arrays(library="np", entry_start=start, entry_stop=start + 1)
            except Exception as exc:
                raise InputFileError(
                    path, f"tree {contract.TREE_NAME}", f"entry {start} unreadable: {exc}"
                ) from exc
            for name in _VALUE_BRANCHES & set(raw):
                values = raw[name]
                if values.dtype == object:  # hit field: one array per entry
                    values = np.concatenate([np.asarray(v) for v in values])
                problem = _value_problem(name, values, np.full(len(values), start))
                if problem:
                    raise InputFileError(path, f"branch {name}", problem)


def _header_end(path: Path) -> int | None:
    """``fEND`` from the ROOT file header (None if the header itself is cut)."""
    with open(path, "rb") as fh:
        head = fh.read(4 + 4 + 4 + 8)
    if len(head) < 16:
        return None
    version = struct.unpack(">i", head[4:8])[0]
    if version >= 1_000_000:
        return struct.unpack(">q", head[12:20])[0] if len(head) == 20 else None
    return struct.unpack(">i", head[12:16])[0]


def _check_tree(path: Path, tree: Any, check_data: bool) -> tuple[int, list[str]]:
    """Check branches, types and completeness; return (num_entries, branch names)."""
    names = list(tree.keys(recursive=False))
    for spec in contract.FIXED_BRANCHES:
        if spec.name not in names:
            raise InputFileError(path, f"branch {spec.name}", "missing")
        _check_fixed(path, tree, spec)
    for coll, specs in _COLLECTIONS.items():
        counter = "n" + coll
        if counter not in names:
            raise InputFileError(path, f"branch {counter}", "missing (hit counter)")
        cinterp = tree[counter].interpretation
        if not (isinstance(cinterp, AsDtype) and cinterp.to_dtype == np.dtype("i4")):
            raise InputFileError(
                path, f"branch {counter}", f"wrong type: found {_describe(cinterp)}, expected int32"
            )
        for spec in specs:
            if spec.name not in names:
                raise InputFileError(path, f"branch {spec.name}", "missing")
            _check_jagged(path, tree, spec)
    for spec in contract.MC_BRANCHES:
        if spec.name in names:
            _check_fixed(path, tree, spec)
    _check_complete(path, tree, check_data)
    return int(tree.num_entries), names


def _tree_layout(path: Path, file: Any, tree: Any) -> dict[str, Any]:
    """What a run plans with, read while the file is open: the file UUID, the cluster
    boundaries (coffea's chunk planning) and the distinct run numbers; the (run, spill, event)
    ids are checked to be unique on the way."""
    try:
        ids = tree.arrays(["run", "spill", "event"], library="np")
    except Exception as exc:
        raise InputFileError(path, "branch run", f"unreadable: {exc}") from exc
    duplicate_ids(path, ids["run"], ids["spill"], ids["event"])
    runs = np.unique(ids["run"])
    return {
        "uuid": bytes(file.file.fUUID),
        "clusters": [int(c) for c in tree.common_entry_offsets()],
        "runs": tuple(int(r) for r in runs),
    }


def _open_checked(path: Path, check_data: bool) -> tuple[dict, int, list[str], dict]:
    """Run every check; return (metadata, num_entries, branch names, layout)."""
    if not path.is_file():
        raise InputFileError(path, "file", "does not exist or is not a regular file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
    if magic != b"root":
        raise InputFileError(path, "file", f"not a ROOT file (starts with {magic!r})")
    size, fend = path.stat().st_size, _header_end(path)
    if fend is None or size < fend:
        raise InputFileError(
            path, "file", f"truncated: {size} bytes on disk, header says {fend or 'more'}"
        )
    try:
        file = uproot.open(path)
    except Exception as exc:
        raise InputFileError(path, "file", f"not a readable ROOT file: {exc}") from exc
    with file:
        try:
            classes = file.classnames(recursive=False)
        except Exception as exc:
            raise InputFileError(path, "file", f"unreadable directory: {exc}") from exc
        classes = {k.rsplit(";", 1)[0]: v for k, v in classes.items()}
        if classes.get(contract.TREE_NAME) not in ("TTree", "TNtuple"):
            found = ", ".join(f"{k} ({v})" for k, v in sorted(classes.items())) or "none"
            raise InputFileError(
                path, f"tree {contract.TREE_NAME}", f"no TTree named events; keys found: {found}"
            )
        metadata = _read_metadata_from(path, file, classes)
        try:
            tree = file[contract.TREE_NAME]
            n, branch_names = _check_tree(path, tree, check_data)
            layout = _tree_layout(path, file, tree)
        except InputFileError:
            raise
        except Exception as exc:  # uproot/OS errors on a damaged tree
            raise InputFileError(path, f"tree {contract.TREE_NAME}", f"unreadable: {exc}") from exc
    if n == 0:
        logger.warning("%s: tree %s has no entries", path, contract.TREE_NAME)
    return metadata, n, branch_names, layout


def _read_metadata_from(path: Path, file: Any, classes: dict[str, str]) -> dict[str, Any]:
    item = contract.METADATA_NAME
    if item not in classes:
        raise InputFileError(path, item, "missing (expected a TObjString holding JSON)")
    if classes[item] != "TObjString":
        raise InputFileError(path, item, f"is a {classes[item]}, expected TObjString")
    try:
        text = str(file[item])
    except Exception as exc:
        raise InputFileError(path, item, f"unreadable: {exc}") from exc
    return decode_metadata(text, path)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The validated metadata dict of a file (raises InputFileError like ``open_event_file``)."""
    return open_event_file(path, check_data=False).metadata


class EventFile:
    """A validated event file. Cheap to keep around: uproot opens the file per ``arrays`` call.

    Besides metadata, entries and branch names it keeps what was read at validation:
    ``runs`` (the distinct run numbers), ``uuid`` (the ROOT file UUID) and ``clusters`` (the
    entry boundaries shared by all branches, for chunk planning)."""

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        num_entries: int,
        branches: list[str],
        layout: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.num_entries = num_entries
        self.branch_names = branches
        layout = layout or {}
        self.runs: tuple[int, ...] = tuple(layout.get("runs", ()))
        self.uuid: bytes = layout.get("uuid", b"")
        self.clusters: list[int] = list(layout.get("clusters", ()))

    def __repr__(self) -> str:
        return f"EventFile({str(self.path)!r}, num_entries={self.num_entries})"

    @property
    def mc_branches(self) -> list[str]:
        """The contract MC-truth branches present in this file."""
        return [b.name for b in contract.MC_BRANCHES if b.name in self.branch_names]

    @property
    def is_simulation(self) -> bool:
        """True if metadata says ``simulation: true`` or the file has MC-truth branches."""
        return bool(self.metadata.get("simulation", False)) or bool(self.mc_branches)

    def scan_values(self, step: int = 200_000, screen=None) -> None:
        """Read every amplitude and time (and the hit indices), ``step`` entries at a time:
        ``check_values`` on each block, then ``screen(path, block, start)`` if given (the
        checks that need the conditions, ``na64reco.run.validation.ValueScreen``)."""
        names = [*sorted(_VALUE_BRANCHES), "run", "mm", "st"]
        for start in range(0, self.num_entries, step):
            block = self.arrays(names, entry_start=start, entry_stop=start + step)
            if screen is not None:
                screen(self.path, block, start)

    def _resolve(self, branches: Iterable[str] | None) -> tuple[list[str], dict[str, list]]:
        if branches is None:
            fixed = [b.name for b in contract.FIXED_BRANCHES] + self.mc_branches
            return fixed, {c: list(s) for c, s in _COLLECTIONS.items()}
        if isinstance(branches, str):
            branches = [branches]
        fixed: list[str] = []
        colls: dict[str, list] = {}
        for name in branches:
            if name in _COLLECTIONS:
                colls[name] = list(_COLLECTIONS[name])
            elif name in _JAGGED:
                spec = _JAGGED[name]
                lst = colls.setdefault(spec.collection, [])
                if spec not in lst:
                    lst.append(spec)
            elif name in self.branch_names and name not in fixed:
                fixed.append(name)
            else:
                raise KeyError(f"{self.path}: no branch {name!r}")
        return fixed, colls

    def arrays(
        self,
        branches: Iterable[str] | None = None,
        entry_start: int | None = None,
        entry_stop: int | None = None,
        library: str = "np",
    ) -> Any:
        """Read branches (default: all contract and MC branches).

        ``branches`` may name fixed branches, whole hit collections (``"mm"``, ``"st"``) or single
        hit fields (``"mm_strip"``). ``library="np"``: a dict like the writer's batch (fixed
        branches as numpy arrays, ``"mm"``/``"st"`` as awkward records). ``library="ak"``: one
        awkward record array with those fields.
        """
        if library not in ("np", "ak"):
            raise ValueError(f"library must be 'np' or 'ak', not {library!r}")
        fixed, colls = self._resolve(branches)
        expressions = fixed + [s.name for specs in colls.values() for s in specs]
        try:
            with uproot.open(self.path) as f:
                raw = f[contract.TREE_NAME].arrays(
                    expressions,
                    entry_start=entry_start,
                    entry_stop=entry_stop,
                    library="ak",
                    how=dict,
                )
        except Exception as exc:
            raise InputFileError(
                self.path, f"tree {contract.TREE_NAME}", f"read failed: {exc}"
            ) from exc
        start = entry_start or 0
        start = start + self.num_entries if start < 0 else start
        try:
            out = self._assemble(raw, fixed, colls, library, start)
        except InputFileError:
            raise
        except Exception as exc:  # a damaged basket that decompressed into nonsense
            raise InputFileError(
                self.path, f"tree {contract.TREE_NAME}", f"inconsistent data: {exc}"
            ) from exc
        check_values(self.path, out, start)
        if library == "ak":
            return ak.zip(out, depth_limit=1)
        return out

    def _assemble(self, raw: dict, fixed: list[str], colls: dict, library: str, start: int):
        """The output dict; InputFileError if branches disagree on entries or hit counts."""
        out: dict[str, Any] = {}
        for name in fixed:
            out[name] = ak.to_numpy(raw[name]) if library == "np" else raw[name]
        for coll, specs in colls.items():
            _check_hit_counts(self.path, [(s.name, raw[s.name]) for s in specs], start)
            out[coll] = ak.zip({s.field: raw[s.name] for s in specs}, depth_limit=2)
        lengths = {name: len(values) for name, values in out.items()}
        if len(set(lengths.values())) > 1:
            raise InputFileError(
                self.path,
                f"tree {contract.TREE_NAME}",
                f"branches hold different numbers of entries: {lengths}",
            )
        return out


def open_event_file(path: str | Path, *, check_data: bool = True) -> EventFile:
    """Validate ``path`` against the schema-v1 contract and return an ``EventFile``."""
    path = Path(path)
    metadata, n, names, layout = _open_checked(path, check_data)
    logger.debug("opened %s: %d entries", path, n)
    return EventFile(path, metadata, n, names, layout)
