"""Input maps: a converter's branch names, array shapes and units onto the event-tree contract.

A small versioned TOML document, validated on load like the cut sets (every problem is a
``ConfigError(file, key, problem)``)::

    format = "na64-input-map"
    version = 1
    name = "p348reco-2022"
    description = "p348reco-style names, the 5x6 ECAL of 2021-2022, ECAL times in TDC counts"

    [branches.run]
    source = "runNo"                    # the file's branch (default: the contract name)

    [branches.ecal_amp]
    source = "ECAL_ampl"
    shape = [2, 5, 6]                   # the file's per-event shape (default: the contract's)
    # place = [[0, 1], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]]   # per axis: the contract index
    #                                   # of each source index (default: 0, 1, 2, ...)
    fill = 0.0                          # contract cells no source channel maps to: absent

    [branches.ecal_t]
    source = "ECAL_tdc"
    shape = [2, 5, 6]
    scale = 0.125                       # contract value = source * scale + offset (ns per count)

    [branches.mm_strip]                 # a hit field: source, scale and offset only
    source = "MM_stripID"

Keys of ``branches`` are contract branch names (fixed, hit fields and ``mc_*``); a contract
branch not listed is read under its own name with its contract type. Integer branches take an
integer ``offset`` and no ``scale``. Cells of a fixed branch that no source channel maps to get
``fill`` and are *absent* (``InputMap.absent``: listed in the manifest and in every run's
provenance; the contract's convention for a channel not read out is amplitude 0 and time 0, as
the simulation writes the missing ECAL column of 2021-2022). ``metadata``: ``na64_metadata``
keys for files that carry no ``na64_metadata`` object of their own (a file's own object wins).

``apply_input_map(imap, columns)`` turns the columns read under the source names (numpy arrays
for fixed branches, awkward jagged arrays for hit fields) into contract-named ones; the reader
(``EventFile.arrays``) and the coffea path (``nanoevents.raw_arrays``) both use it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from na64reco.documents import read_document
from na64reco.eventtree import contract

__all__ = [
    "INPUT_MAP_FORMAT",
    "INPUT_MAP_VERSION",
    "BranchMap",
    "InputMap",
    "apply_input_map",
    "load_input_map",
    "load_recorded_input_map",
]

INPUT_MAP_FORMAT = "na64-input-map"
INPUT_MAP_VERSION = 1

_FIXED = {b.name: b for b in contract.ALL_FIXED_BRANCHES}
_JAGGED = {b.name: b for b in contract.JAGGED_BRANCHES}


class BranchMap(BaseModel):
    """How one contract branch is read from a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(None, min_length=1, description="the file's branch name")
    shape: tuple[int, ...] | None = Field(None, description="the file's per-event shape")
    place: tuple[tuple[int, ...], ...] | None = Field(
        None, description="per axis, the contract index of each source index"
    )
    scale: float = 1.0
    offset: float = 0.0
    fill: float = 0.0


def _check_branch(name: str, spec: BranchMap) -> None:
    """ValueError naming the branch if its mapping cannot be applied."""
    if name in _JAGGED:
        if spec.shape is not None or spec.place is not None or spec.fill != 0.0:
            raise ValueError(f"{name}: a hit field takes source, scale and offset only")
        dtype = _JAGGED[name].dtype
    elif name in _FIXED:
        dtype = _FIXED[name].dtype
        target = _FIXED[name].shape
        shape = spec.shape if spec.shape is not None else target
        if len(shape) != len(target) or any(s < 1 for s in shape):
            raise ValueError(f"{name}: shape {list(shape)} must have {len(target)} positive axes")
        place = spec.place
        if place is None:
            if any(s > t for s, t in zip(shape, target, strict=True)):
                raise ValueError(
                    f"{name}: shape {list(shape)} exceeds the contract's {list(target)}: give place"
                )
        else:
            if len(place) != len(shape):
                raise ValueError(f"{name}: place needs one list per axis ({len(shape)})")
            for axis, (indices, size, limit) in enumerate(zip(place, shape, target, strict=True)):
                if len(indices) != size:
                    raise ValueError(
                        f"{name}: place axis {axis} has {len(indices)} entries, shape {size}"
                    )
                if len(set(indices)) != size or not all(0 <= i < limit for i in indices):
                    raise ValueError(
                        f"{name}: place axis {axis} must hold distinct indices in 0-{limit - 1}"
                    )
    else:
        raise ValueError(f"{name!r} is not a contract branch")
    integral = spec.scale == 1.0 and spec.offset == int(spec.offset) and spec.fill == int(spec.fill)
    if dtype.kind in "iu" and not integral:
        raise ValueError(f"{name}: an integer branch takes integer offset and fill, no scale")
    for what in ("scale", "offset", "fill"):
        if not np.isfinite(getattr(spec, what)):
            raise ValueError(f"{name}: {what} must be finite")
    if spec.scale == 0.0:
        raise ValueError(f"{name}: scale must not be 0")


class InputMap(BaseModel):
    """A validated input map (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["na64-input-map"] = INPUT_MAP_FORMAT
    version: Literal[1] = INPUT_MAP_VERSION
    name: str = Field(min_length=1)
    description: str | None = None
    branches: dict[str, BranchMap] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    _source: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _branches_apply(self) -> InputMap:
        for name, spec in self.branches.items():
            _check_branch(name, spec)
        sources = [self.source_name(n) for n in self.branches]
        doubled = sorted({s for s in sources if sources.count(s) > 1})
        if doubled:
            raise ValueError(f"source branch(es) {doubled} mapped to more than one branch")
        return self

    @property
    def source(self) -> str:
        """The TOML file this map was loaded from ("" if built in memory)."""
        return self._source

    @cached_property
    def sha256(self) -> str:
        """sha256 of the map's content (canonical JSON): what a manifest and a run record."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def source_name(self, branch: str) -> str:
        """The file's branch read for a contract branch."""
        spec = self.branches.get(branch)
        return spec.source if spec is not None and spec.source else branch

    def mapped(self, branch: str) -> BranchMap | None:
        return self.branches.get(branch)

    def source_shape(self, branch: str) -> tuple[int, ...]:
        spec = self.branches.get(branch)
        if spec is not None and spec.shape is not None:
            return tuple(spec.shape)
        return _FIXED[branch].shape

    def _places(self, branch: str) -> tuple[tuple[int, ...], ...]:
        spec = self.branches.get(branch)
        shape = self.source_shape(branch)
        if spec is not None and spec.place is not None:
            return tuple(tuple(p) for p in spec.place)
        return tuple(tuple(range(s)) for s in shape)

    @cached_property
    def absent(self) -> dict[str, list[list[int]]]:
        """Per fixed branch, the contract cells no source channel maps to (filled)."""
        out: dict[str, list[list[int]]] = {}
        for name in self.branches:
            if name not in _FIXED or not _FIXED[name].shape:
                continue
            covered = np.zeros(_FIXED[name].shape, dtype=bool)
            covered[np.ix_(*self._places(name))] = True
            if not covered.all():
                out[name] = np.argwhere(~covered).tolist()
        return out

    def record(self) -> dict[str, Any]:
        """What a manifest entry and a run's provenance say about the map."""
        absent = {k: f"{len(v)} cell(s), first {v[0]}" for k, v in self.absent.items()}
        return {"name": self.name, "sha256": self.sha256, "source": self.source, "absent": absent}


def load_input_map(path: str | Path) -> InputMap:
    """Read and validate an input map (TOML); ConfigError naming file and key."""
    path = Path(path)
    imap = read_document(
        path,
        InputMap,
        kind="toml",
        format_name=INPUT_MAP_FORMAT,
        versions=(INPUT_MAP_VERSION,),
    )
    imap._source = str(path.resolve())
    return imap


def load_recorded_input_map(
    event_file: str | Path, map_file: str | Path, sha256: str | None, recorder: str
) -> InputMap:
    """The input map ``recorder`` (a manifest, a run's provenance) recorded for ``event_file``,
    read again from ``map_file`` and required to have the recorded ``sha256``
    (InputFileError naming the event file otherwise)."""
    from na64reco.errors import ConfigError, InputFileError

    try:
        imap = load_input_map(map_file)
    except ConfigError as exc:
        raise InputFileError(event_file, "input map", str(exc)) from exc
    if imap.sha256 != sha256:
        raise InputFileError(
            event_file,
            "input map",
            f"{map_file} changed: sha256 {imap.sha256}, {recorder} says {sha256}",
        )
    return imap


def _convert(values: np.ndarray, spec: BranchMap | None, dtype: np.dtype, name: str) -> np.ndarray:
    """``values * scale + offset`` in the contract dtype (ValueError if it does not fit)."""
    values = np.asarray(values)
    if spec is None or (spec.scale == 1.0 and spec.offset == 0.0):
        if values.dtype == dtype:
            return values
        if dtype.kind == "f":
            return values.astype(dtype)
        converted = values
    elif dtype.kind == "f":
        return (values.astype(np.float64) * spec.scale + spec.offset).astype(dtype)
    else:
        converted = values.astype(np.int64) + int(spec.offset)
    if values.dtype.kind not in "iub":
        raise ValueError(f"branch {name}: {values.dtype} values for an integer branch")
    if converted.size:
        info = np.iinfo(dtype)
        lo, hi = int(converted.min()), int(converted.max())
        if lo < info.min or hi > info.max:
            raise ValueError(f"branch {name}: values in [{lo}, {hi}] do not fit {dtype}")
    return converted.astype(dtype)


def apply_input_map(imap: InputMap, columns: dict[str, Any]) -> dict[str, Any]:
    """Contract-named columns from ``columns`` keyed by source names (see the module
    docstring); hit fields stay jagged awkward arrays, fixed branches become numpy arrays of
    the contract shape. ValueError naming the branch on values that do not fit."""
    out: dict[str, Any] = {}
    by_source = {imap.source_name(n): n for n in (*_FIXED, *_JAGGED)}
    for source, values in columns.items():
        name = by_source.get(source, source)
        spec = imap.mapped(name)
        if name in _JAGGED:
            counts = ak.num(values, axis=1)
            flat = ak.to_numpy(ak.flatten(values, axis=None))
            out[name] = ak.unflatten(_convert(flat, spec, _JAGGED[name].dtype, name), counts)
        elif name in _FIXED:
            branch = _FIXED[name]
            values = np.asarray(values)
            if spec is None or (spec.shape is None and spec.place is None):
                out[name] = _convert(values, spec, branch.dtype, name)
                continue
            n = len(values)
            target = np.full((n, *branch.shape), spec.fill, dtype=branch.dtype)
            places = imap._places(name)
            target[np.ix_(np.arange(n), *places)] = _convert(values, spec, branch.dtype, name)
            out[name] = target
        else:
            out[name] = values
    return out
