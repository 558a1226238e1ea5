"""Every use of coffea's non-public internals, in one place (tests/test_coffea_adapter.py
fails loudly when a coffea release changes one of them).

* Progress: coffea draws its rich bars on ``coffea.util.coffea_console`` and its Iterative
  and Futures executors ignore ``status=False``; a quiet rich Console prints nothing at all.
* Preprocessing: ``Runner(metadata_cache=...)`` is keyed by
  ``coffea.processor.executor.FileMeta(dataset, filename, treename)`` with the values
  ``numentries``, ``uuid`` and ``clusters``; filling it from our own validation spares the
  Runner opening every file again.
* Hashes: ``coffea.processor.executor._hash`` (``FileMeta.__hash__``) encodes the file name as
  ASCII, so a path with a non-ASCII character (``/data/données/run.root``) raised
  ``UnicodeEncodeError``; ``utf8_file_hashes()`` gives the executor the same hash computed on
  UTF-8 (identical for ASCII names, so nothing else changes).
* Work items: a chunk's ``dataset``, ``filename``, ``treename``, ``entrystart`` and ``entrystop``
  (what a checkpointer keys on); the ``processed`` set of ``WorkItem`` in a chunk's output,
  stored by its fields in a checkpoint (``work_item_fields``/``work_item``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

COFFEA_METADATA_KEYS = ("numentries", "uuid", "clusters")
WORK_ITEM_FIELDS = ("dataset", "filename", "treename", "entrystart", "entrystop")

__all__ = [
    "COFFEA_METADATA_KEYS",
    "WORK_ITEM_FIELDS",
    "chunk_metadata",
    "metadata_cache",
    "quiet_progress",
    "utf8_file_hashes",
    "work_item",
    "work_item_fields",
]


@contextlib.contextmanager
def quiet_progress(quiet: bool) -> Iterator[None]:
    """Silence coffea's rich progress bars while ``quiet`` (restored on exit)."""
    from coffea.util import coffea_console

    previous = coffea_console.quiet
    coffea_console.quiet = previous or quiet
    try:
        yield
    finally:
        coffea_console.quiet = previous


def metadata_cache(
    files: Iterable[Any], datasets: dict[str, str], tree: str, user: dict[str, dict] | None = None
) -> dict:
    """The Runner's metadata cache from validated files (``path``, ``entries``, ``uuid``,
    ``clusters`` attributes) in their datasets (``datasets[path]``); files without cluster
    information are left to coffea. A cached entry replaces the fileset's ``metadata`` of the
    file (``FileMeta.maybe_populate``), so the user metadata of a file (``user[path]``) is
    added to it: coffea hands it to the processor in ``events.metadata``."""
    from coffea.processor.executor import FileMeta

    user = user or {}
    return {
        FileMeta(datasets[f.path], f.path, tree): {
            **user.get(f.path, {}),
            **dict(zip(COFFEA_METADATA_KEYS, (f.entries, f.uuid, list(f.clusters)), strict=True)),
        }
        for f in files
        if f.entries > 0 and f.uuid and f.clusters
    }


def chunk_metadata(chunk: Any) -> dict:
    """A work item's identity as the dict coffea hands a checkpointer."""
    return {name: getattr(chunk, name) for name in WORK_ITEM_FIELDS}


def work_item_fields(item: Any) -> dict:
    """A coffea ``WorkItem`` as plain fields (for a data-only checkpoint)."""
    import dataclasses

    fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    if fields.get("preload") is not None:
        fields["preload"] = sorted(fields["preload"])
    return fields


def work_item(fields: dict) -> Any:
    """The ``WorkItem`` of ``work_item_fields`` (only its known fields are used)."""
    import dataclasses

    from coffea.processor.executor import WorkItem

    known = {f.name for f in dataclasses.fields(WorkItem)}
    values = {k: v for k, v in fields.items() if k in known}
    if values.get("preload") is not None:
        values["preload"] = frozenset(values["preload"])
    return WorkItem(**values)


def _utf8_hash(items) -> int:
    """coffea.util._hash on UTF-8 (the same value for ASCII input)."""
    import hashlib

    digest = hashlib.md5(";".join(str(x) for x in items).encode("utf-8"))
    return int(digest.hexdigest()[:16], base=16)


def utf8_file_hashes() -> None:
    """Make coffea's executor hash file names as UTF-8 (see the module docstring)."""
    from coffea.processor import executor

    executor._hash = _utf8_hash
