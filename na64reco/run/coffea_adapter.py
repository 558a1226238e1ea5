"""Every use of coffea's non-public internals, in one place (tests/test_coffea_adapter.py
fails loudly when a coffea release changes one of them).

* Progress: coffea draws its rich bars on ``coffea.util.coffea_console`` and its Iterative
  and Futures executors ignore ``status=False``; a quiet rich Console prints nothing at all.
* Preprocessing: ``Runner(metadata_cache=...)`` is keyed by
  ``coffea.processor.executor.FileMeta(dataset, filename, treename)`` with the values
  ``numentries``, ``uuid`` and ``clusters``; filling it from our own validation spares the
  Runner opening every file again.
* Work items: a chunk's ``dataset``, ``filename``, ``treename``, ``entrystart`` and ``entrystop``
  (what a checkpointer keys on).
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


def metadata_cache(files: Iterable[Any], dataset: str, tree: str) -> dict:
    """The Runner's metadata cache from validated files (``path``, ``entries``, ``uuid``,
    ``clusters`` attributes); files without cluster information are left to coffea."""
    from coffea.processor.executor import FileMeta

    return {
        FileMeta(dataset, f.path, tree): dict(
            zip(COFFEA_METADATA_KEYS, (f.entries, f.uuid, list(f.clusters)), strict=True)
        )
        for f in files
        if f.entries > 0 and f.uuid and f.clusters
    }


def chunk_metadata(chunk: Any) -> dict:
    """A work item's identity as the dict coffea hands a checkpointer."""
    return {name: getattr(chunk, name) for name in WORK_ITEM_FIELDS}
