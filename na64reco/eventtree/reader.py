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
5. every contract branch exists with the contract dtype and shape; hit fields are either
   counted arrays (``mm_strip[nmm]/s``, counted by ``nmm``/``nst``, int32) or ``std::vector<T>``
   branches (what a C++ converter writes with ``tree->Branch("mm_strip", &vec)``: uproot reads
   them as jagged arrays without a counter; the hit fields of a collection must then agree on
   the number of hits, checked on every read like the counted ones); optional ``mc_*``
   branches, when present, have their contract type. Extra branches are allowed.

With an input map (``na64reco.eventtree.inputmap``) the branches are looked up under the map's
source names and shapes, a mapped branch may hold any numeric type of its kind, and every read
returns the contract's names, shapes and units; a file without ``na64_metadata`` takes the
map's ``metadata`` table.

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
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from na64reco.errors import InputFileError
from na64reco.eventtree import contract
from na64reco.eventtree.inputmap import InputMap, _convert, apply_input_map
from na64reco.eventtree.metadata import decode_metadata, validate_metadata
from na64reco.eventtree.structure import check_tree, source_name
from na64reco.eventtree.value_screen import duplicate_ids
from na64reco.eventtree.values import (
    TIME_LIMIT_NS,
    VALUE_BRANCHES,
    check_hit_counts,
    check_values,
)

#: how the reader opens a (local) event file: memory-mapped, as the chunks of a run are
#: (``na64reco.run.executors.chunk_uproot_options``); uproot's default source would start
#: fsspec's event-loop threads, which stay alive and keep the process from forking plot workers
LOCAL_OPEN = {"handler": uproot.MemmapSource}

logger = logging.getLogger(__name__)

__all__ = [
    "LOCAL_OPEN",
    "TIME_LIMIT_NS",
    "EventFile",
    "check_values",
    "open_event_file",
    "read_event_ids",
    "read_fixed_branches",
    "read_metadata",
]

_COLLECTIONS: dict[str, list[contract.JaggedBranch]] = {}
for _b in contract.JAGGED_BRANCHES:
    _COLLECTIONS.setdefault(_b.collection, []).append(_b)
_JAGGED = {b.name: b for b in contract.JAGGED_BRANCHES}
_FIXED = {b.name: b for b in contract.ALL_FIXED_BRANCHES}


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


_ID_BRANCHES = ("run", "spill", "event")


def _read_fixed(
    path: Path, tree: Any, imap: InputMap | None, names: tuple[str, ...] = _ID_BRANCHES
) -> dict[str, np.ndarray]:
    """Fixed contract branches ``names`` (default run, spill, event) of every entry, read
    under their source names and converted through the input map."""
    sources = [source_name(n, imap) for n in names]
    try:
        raw = tree.arrays(sorted(set(sources)), library="np")
    except Exception as exc:
        raise InputFileError(path, f"branches {', '.join(names)}", f"unreadable: {exc}") from exc
    columns = {n: raw[s] for n, s in zip(names, sources, strict=True)}
    if imap is None:
        return columns
    try:
        return {n: _convert(v, imap.mapped(n), _FIXED[n].dtype, n) for n, v in columns.items()}
    except ValueError as exc:
        raise InputFileError(path, "input map", str(exc)) from exc


def read_event_ids(path: str | Path, input_map: InputMap | None = None) -> dict[str, np.ndarray]:
    """run, spill and event of every entry of a (validated) file, through its input map."""
    return read_fixed_branches(path, _ID_BRANCHES, input_map)


def read_fixed_branches(
    path: str | Path, names: tuple[str, ...], input_map: InputMap | None = None
) -> dict[str, np.ndarray]:
    """Fixed (per-event scalar or array) contract branches of every entry of a validated
    file, through its input map: the contract's names and dtypes whatever the file calls
    them."""
    unknown = [n for n in names if n not in _FIXED]
    if unknown:
        raise KeyError(f"not fixed contract branches: {unknown}")
    try:
        with uproot.open(path, **LOCAL_OPEN) as f:
            return _read_fixed(Path(path), f[contract.TREE_NAME], input_map, tuple(names))
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(path, f"tree {contract.TREE_NAME}", f"unreadable: {exc}") from exc


def _tree_layout(path: Path, file: Any, tree: Any, imap: InputMap | None) -> dict[str, Any]:
    """What a run plans with, read while the file is open: the file UUID, the cluster
    boundaries (coffea's chunk planning) and the distinct run numbers; the (run, spill, event)
    ids are checked to be unique on the way."""
    ids = _read_fixed(path, tree, imap)
    duplicate_ids(path, ids["run"], ids["spill"], ids["event"])
    runs = np.unique(ids["run"])
    return {
        "uuid": bytes(file.file.fUUID),
        "clusters": [int(c) for c in tree.common_entry_offsets()],
        "runs": tuple(int(r) for r in runs),
    }


def _open_checked(
    path: Path, check_data: bool, imap: InputMap | None = None
) -> tuple[dict, int, list[str], dict]:
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
        file = uproot.open(path, **LOCAL_OPEN)
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
        if contract.METADATA_NAME not in classes and imap is not None and imap.metadata:
            metadata = validate_metadata(dict(imap.metadata), f"{path} (input map {imap.name})")
        else:
            metadata = _read_metadata_from(path, file, classes)
        try:
            tree = file[contract.TREE_NAME]
            n, branch_names, hit_layout = check_tree(path, tree, check_data, imap)
            layout = _tree_layout(path, file, tree, imap)
            layout["hit_layout"] = hit_layout
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


def read_metadata(path: str | Path, input_map: InputMap | None = None) -> dict[str, Any]:
    """The validated metadata dict of a file (raises InputFileError like ``open_event_file``)."""
    return open_event_file(path, check_data=False, input_map=input_map).metadata


class EventFile:
    """A validated event file. Cheap to keep around: uproot opens the file per ``arrays`` call.

    Besides metadata, entries and branch names (the file's own) it keeps what was read at
    validation: ``runs`` (the distinct run numbers), ``uuid`` (the ROOT file UUID),
    ``clusters`` (the entry boundaries shared by all branches, for chunk planning) and
    ``hit_layout`` ("counted" or "vector" per hit collection); ``input_map``: the map every
    read goes through (None: contract names)."""

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        num_entries: int,
        branches: list[str],
        layout: dict[str, Any] | None = None,
        input_map: InputMap | None = None,
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.num_entries = num_entries
        self.branch_names = branches
        self.input_map = input_map
        layout = layout or {}
        self.hit_layout: dict[str, str] = dict(layout.get("hit_layout", {}))
        self.runs: tuple[int, ...] = tuple(layout.get("runs", ()))
        self.uuid: bytes = layout.get("uuid", b"")
        self.clusters: list[int] = list(layout.get("clusters", ()))

    def __repr__(self) -> str:
        return f"EventFile({str(self.path)!r}, num_entries={self.num_entries})"

    @property
    def mc_branches(self) -> list[str]:
        """The contract MC-truth branches present in this file."""
        return [
            b.name
            for b in contract.MC_BRANCHES
            if source_name(b.name, self.input_map) in self.branch_names
        ]

    @property
    def is_simulation(self) -> bool:
        """True if metadata says ``simulation: true`` or the file has MC-truth branches."""
        return bool(self.metadata.get("simulation", False)) or bool(self.mc_branches)

    def scan_values(self, step: int = 200_000, screen=None) -> None:
        """Read every amplitude and time (and the hit indices), ``step`` entries at a time:
        ``check_values`` on each block, then ``screen(path, block, start)`` if given (the
        checks that need the conditions, ``na64reco.run.validation.ValueScreen``)."""
        names = [*sorted(VALUE_BRANCHES), "run", "mm", "st"]
        for start in range(0, self.num_entries, step):
            block = self.arrays(names, entry_start=start, entry_stop=start + step)
            if screen is not None:
                screen(self.path, block, start)

    def _has(self, name: str) -> bool:
        """A fixed branch readable under this name (a contract name through the input map; any
        branch of the file without one)."""
        if name in _FIXED:
            return source_name(name, self.input_map) in self.branch_names
        return self.input_map is None and name in self.branch_names

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
            elif name in fixed:
                continue
            elif self._has(name):
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
        names = fixed + [s.name for specs in colls.values() for s in specs]
        imap = self.input_map
        expressions = [source_name(n, imap) for n in names]
        try:
            with uproot.open(self.path, **LOCAL_OPEN) as f:
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
            if imap is not None:
                columns = apply_input_map(imap, raw)
                if library == "ak":
                    columns = {k: ak.Array(v) for k, v in columns.items()}
                raw = columns
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
            check_hit_counts(self.path, [(s.name, raw[s.name]) for s in specs], start)
            out[coll] = ak.zip({s.field: raw[s.name] for s in specs}, depth_limit=2)
        lengths = {name: len(values) for name, values in out.items()}
        if len(set(lengths.values())) > 1:
            raise InputFileError(
                self.path,
                f"tree {contract.TREE_NAME}",
                f"branches hold different numbers of entries: {lengths}",
            )
        return out


def open_event_file(
    path: str | Path, *, check_data: bool = True, input_map: InputMap | None = None
) -> EventFile:
    """Validate ``path`` against the schema-v1 contract (through ``input_map`` when given) and
    return an ``EventFile``."""
    path = Path(path)
    metadata, n, names, layout = _open_checked(path, check_data, input_map)
    logger.debug("opened %s: %d entries", path, n)
    return EventFile(path, metadata, n, names, layout, input_map)
