"""Write schema-v1 event files with uproot.

Layout: one TTree ``events`` plus the TObjString ``na64_metadata`` (canonical JSON, see
``metadata.py``). Fixed-size branches become ROOT leaf arrays (``ecal_amp[2][6][6]/F``), hit
collections become counted arrays (``nmm/I`` and ``mm_strip[nmm]/s`` ...). Events are buffered
and written ``cluster_size`` at a time (default 50 000), so every branch gets one basket per
cluster and all branches share cluster boundaries: coffea/uproot read whole clusters without
touching a basket twice. Compression is ZSTD (level 3) by default: ZSTD and LZ4 decompress
several times faster than uproot's default ZLIB.

Reproducibility: uproot stamps creation/modification times (TDatime) and a random UUID into the
file and directory headers, so two files written from identical input are **not**
byte-identical. ``content_digest(path)`` hashes what matters instead (every branch's array in
tree order plus the canonical metadata JSON): same seed and inputs give the same digest.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from na64reco.eventtree import contract
from na64reco.eventtree.metadata import encode_metadata, normalize_metadata

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CLUSTER_SIZE", "EventTreeWriter", "content_digest", "write_events"]

DEFAULT_CLUSTER_SIZE = 50_000

_COMPRESSION = {"zstd": uproot.ZSTD, "lz4": uproot.LZ4, "zlib": uproot.ZLIB, "lzma": uproot.LZMA}
_DEFAULT_LEVEL = {"zstd": 3, "lz4": 1, "zlib": 1, "lzma": 1}

_COLLECTIONS: dict[str, tuple[contract.JaggedBranch, ...]] = {}
for _b in contract.JAGGED_BRANCHES:
    _COLLECTIONS.setdefault(_b.collection, ())
    _COLLECTIONS[_b.collection] += (_b,)

_FIXED = {b.name: b for b in contract.FIXED_BRANCHES}
_MC = {b.name: b for b in contract.MC_BRANCHES}


def _coerce(name: str, values: Any, dtype: np.dtype) -> np.ndarray:
    """Cast ``values`` to ``dtype`` if that loses nothing, else raise ValueError."""
    arr = np.asarray(values)
    if arr.dtype == dtype:
        return arr
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"branch {name!r}: dtype {arr.dtype} cannot be stored as {dtype}")
    if dtype.kind in "iu":
        if arr.dtype.kind == "f":
            raise ValueError(f"branch {name!r}: float values cannot be stored as {dtype}")
        if arr.size:
            info = np.iinfo(dtype)
            lo, hi = int(arr.min()), int(arr.max())
            if lo < info.min or hi > info.max:
                raise ValueError(
                    f"branch {name!r}: values in [{lo}, {hi}] do not fit {dtype} "
                    f"[{info.min}, {info.max}]"
                )
    return arr.astype(dtype)


def _check_collection(name: str, hits: Any, n: int) -> ak.Array:
    """Validate one hit collection and return it with the contract dtypes."""
    branches = _COLLECTIONS[name]
    try:
        hits = ak.Array(hits)
    except TypeError as exc:
        raise ValueError(f"collection {name!r}: not an awkward array ({exc})") from exc
    if len(hits) != n:
        raise ValueError(f"collection {name!r}: {len(hits)} events, expected {n}")
    if hits.ndim != 2 or not hits.fields:
        raise ValueError(f"collection {name!r}: expected var * record per event, got {hits.type}")
    expected = [b.field for b in branches]
    if sorted(hits.fields) != sorted(expected):
        raise ValueError(f"collection {name!r}: fields {hits.fields}, expected {expected}")
    counts = ak.to_numpy(ak.num(hits, axis=1))
    fields = {}
    for b in branches:
        flat = ak.to_numpy(ak.flatten(hits[b.field], axis=None))
        flat = _coerce(b.name, flat, b.dtype)
        fields[b.field] = ak.unflatten(flat, counts)
    return ak.zip(fields, depth_limit=2)


def _normalize_batch(batch: Mapping[str, Any], mc_names: tuple[str, ...] | None) -> dict:
    """Check a batch against the contract; return branch -> array in contract order."""
    keys = set(batch)
    unknown = keys - set(_FIXED) - set(_MC) - set(_COLLECTIONS)
    if unknown:
        raise ValueError(f"batch has branches not in the contract: {sorted(unknown)}")
    missing = [k for k in [*_FIXED, *_COLLECTIONS] if k not in keys]
    if missing:
        raise ValueError(f"batch is missing branches: {missing}")
    mc_here = tuple(k for k in _MC if k in keys)
    if mc_names is not None and mc_here != mc_names:
        raise ValueError(f"batch has MC branches {list(mc_here)}, earlier ones {list(mc_names)}")
    n = len(np.asarray(batch["run"]))
    out: dict[str, Any] = {}
    for name in (*_FIXED, *mc_here):
        spec = _FIXED.get(name) or _MC[name]
        arr = _coerce(name, batch[name], spec.dtype)
        if arr.shape != (n, *spec.shape):
            raise ValueError(
                f"branch {name!r}: shape {arr.shape}, expected {(n, *spec.shape)} (n={n})"
            )
        out[name] = np.ascontiguousarray(arr)
    for name in _COLLECTIONS:
        out[name] = _check_collection(name, batch[name], n)
    return out


def _branch_types(mc_names: tuple[str, ...]) -> dict[str, Any]:
    types: dict[str, Any] = {}
    for name in (*_FIXED, *mc_names):
        spec = _FIXED.get(name) or _MC[name]
        types[name] = np.dtype((spec.dtype, spec.shape)) if spec.shape else spec.dtype
    for name, branches in _COLLECTIONS.items():
        types[name] = ak.types.ListType(
            ak.types.RecordType(
                [ak.types.NumpyType(str(b.dtype)) for b in branches], [b.field for b in branches]
            )
        )
    return types


class EventTreeWriter:
    """Stream events into a new schema-v1 file.

    ``metadata`` gets ``schema_version`` (must be absent or equal to ``contract.SCHEMA_VERSION``).
    Use as a context manager; call ``extend(batch)`` with dicts of branch -> array (every fixed
    branch, optionally the MC branches, and awkward record arrays ``"mm"`` and ``"st"``).
    """

    def __init__(
        self,
        path: str | Path,
        metadata: Mapping[str, Any],
        *,
        compression: str | None = "zstd",
        level: int | None = None,
        cluster_size: int = DEFAULT_CLUSTER_SIZE,
    ) -> None:
        md = dict(metadata)
        version = md.setdefault("schema_version", contract.SCHEMA_VERSION)
        if version != contract.SCHEMA_VERSION or isinstance(version, bool):
            raise ValueError(
                f"metadata schema_version {version!r}: this writer writes {contract.SCHEMA_VERSION}"
            )
        self.metadata = normalize_metadata(md)
        self._metadata_text = encode_metadata(self.metadata)
        if compression is None:
            self._compression = None
        elif compression in _COMPRESSION:
            lvl = _DEFAULT_LEVEL[compression] if level is None else level
            self._compression = _COMPRESSION[compression](lvl)
        else:
            raise ValueError(f"compression {compression!r}: use one of {sorted(_COMPRESSION)}")
        if cluster_size < 1:
            raise ValueError("cluster_size must be positive")
        self.path = Path(path)
        self.cluster_size = int(cluster_size)
        self.num_entries = 0
        self._file: Any = None
        self._tree: Any = None
        self._mc_names: tuple[str, ...] | None = None
        self._pending: list[dict] = []
        self._pending_n = 0

    def __enter__(self) -> EventTreeWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def open(self) -> None:
        """Create the file and write the metadata (the tree is created on the first batch)."""
        if self._file is not None:
            return
        self._file = uproot.recreate(self.path, compression=self._compression)
        self._file[contract.METADATA_NAME] = self._metadata_text
        logger.debug("opened %s for writing", self.path)

    def extend(self, batch: Mapping[str, Any]) -> None:
        """Validate and buffer one chunk; full clusters are written at once."""
        if self._file is None:
            self.open()
        arrays = _normalize_batch(batch, self._mc_names)
        if self._mc_names is None:
            self._mc_names = tuple(k for k in _MC if k in arrays)
        n = len(arrays["run"])
        if n == 0:
            return
        self._pending.append(arrays)
        self._pending_n += n
        if self._pending_n >= self.cluster_size:
            self._flush(final=False)

    def _ensure_tree(self) -> None:
        if self._tree is None:
            self._tree = self._file.mktree(
                contract.TREE_NAME,
                _branch_types(self._mc_names or ()),
                counter_name=lambda coll: "n" + coll,
                field_name=lambda coll, field: f"{coll}_{field}",
                title=f"NA64 events, schema v{contract.SCHEMA_VERSION}",
            )

    def _flush(self, final: bool) -> None:
        if not self._pending:
            return
        if len(self._pending) == 1:
            merged = self._pending[0]
        else:
            merged = {}
            for key in self._pending[0]:
                parts = [p[key] for p in self._pending]
                if key in _COLLECTIONS:
                    merged[key] = ak.concatenate(parts, axis=0)
                else:
                    merged[key] = np.concatenate(parts, axis=0)
        total = self._pending_n
        stop = total if final else total - total % self.cluster_size
        self._ensure_tree()
        for start in range(0, stop, self.cluster_size):
            end = min(start + self.cluster_size, stop)
            self._tree.extend({k: v[start:end] for k, v in merged.items()})
            self.num_entries += end - start
        rest = {k: v[stop:] for k, v in merged.items()}
        self._pending = [rest] if stop < total else []
        self._pending_n = total - stop

    def close(self) -> None:
        """Write what is buffered and close the file (an empty tree if no events came)."""
        if self._file is None:
            return
        if self._mc_names is None:
            self._mc_names = ()
        self._flush(final=True)
        self._ensure_tree()
        self._file.close()
        self._file = None
        logger.info("wrote %d events to %s", self.num_entries, self.path)

    def _abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)
        logger.warning("removed incomplete file %s", self.path)


def write_events(
    path: str | Path, batch: Mapping[str, Any], metadata: Mapping[str, Any], **options: Any
) -> Path:
    """Write one batch to a new file; ``options`` go to ``EventTreeWriter``."""
    with EventTreeWriter(path, metadata, **options) as writer:
        writer.extend(batch)
    return Path(path)


def content_digest(path: str | Path) -> str:
    """sha256 over every branch (in tree order, native little-endian bytes) and the metadata.

    Two files with the same digest hold the same events and metadata, whatever their headers.
    """
    from na64reco.eventtree.reader import LOCAL_OPEN, open_event_file

    ef = open_event_file(path)
    h = hashlib.sha256()
    h.update(encode_metadata(ef.metadata).encode())
    with uproot.open(ef.path, **LOCAL_OPEN) as f:
        tree = f[contract.TREE_NAME]
        for branch in tree.branches:
            h.update(branch.name.encode() + b"\0")
            arr = branch.array(library="ak")
            if arr.ndim > 1 and isinstance(ak.type(arr).content, ak.types.ListType):
                h.update(ak.to_numpy(ak.num(arr, axis=1)).astype("<i8").tobytes())
                arr = ak.flatten(arr, axis=None)
            data = ak.to_numpy(arr)
            h.update(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()
