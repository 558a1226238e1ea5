"""sha256 of files, of configuration and of the code; a cache of file results keyed by status.

The one place that hashes: ``sha256_file`` (a file's bytes), ``sha256_json`` (the canonical
JSON of a value: cut sets, stage inputs, checkpoint keys), ``code_digest`` (the toolkit's own
source, so that a code change is a new key).

Hashing every input before every run costs ~0.9 s per GB on one core (1.5 s for the 3.0e6-event
benchmark sample, 80 s for the full 2016-2022 exposure), while analysts re-run the same files
many times a day. ``file_sha256`` therefore remembers, per file, the sha256 computed together
with the file's status at that time: device, inode, size, modification time and status-change
time (all in ns). As long as none of these changed, the file's bytes were not rewritten, renamed
over or touched through the file system, and the remembered checksum is returned; otherwise (or
on any doubt: a file not in the cache, an unreadable cache) the file is hashed again. The
kernel sets the status-change time on every write, rename or metadata change and no user can set
it back, so an in-place edit that restores size and modification time is still caught. What the
cache does not catch is a change below the file system (a disk flipping bits); ``na64 run
--rehash`` and ``na64 inspect --verify-checksums`` always hash.

The same status key guards any other result about a file (``cached_record`` /
``remember_record``, one per file and ``kind``): ``na64reco.run.validation`` stores the
entries, run numbers, UUID and cluster boundaries of a file that passed every contract check,
keyed by the toolkit's source digest, so that a run on unchanged files and unchanged code does
not open every file again before the first chunk (~18 ms per file).

The cache is one SQLite file, ``$NA64_CACHE_DIR/checksums.sqlite`` (default
``$XDG_CACHE_HOME/na64reco`` or ``~/.cache/na64reco``), safe for concurrent processes. A cache
that cannot be opened or written only costs the time of hashing (logged at debug level).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "cache_path",
    "cached_record",
    "code_digest",
    "file_sha256",
    "file_status",
    "remember_record",
    "sha256_file",
    "sha256_json",
]

COMPUTED = "computed"
CACHED = "cache"
# one row per file and kind of result; ``key`` says what produced it (e.g. the code version)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS file_cache (path TEXT, kind TEXT, key TEXT, dev INTEGER, "
    "ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, value TEXT, "
    "PRIMARY KEY (path, kind))"
)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (sorted keys, no spaces; paths as strings)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """sha256 over the source of na64reco and of its processors and calibration recipe."""
    roots = {
        Path(importlib.import_module(name).__file__).parent
        for name in ("na64reco", "na64reco.processors", "na64reco.calib")
    }
    h = hashlib.sha256()
    for root in sorted(roots):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_path() -> Path:
    """Where the checksum cache lives (``NA64_CACHE_DIR``, else the XDG cache folder)."""
    folder = os.environ.get("NA64_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(base) / "na64reco")
    return Path(folder) / "checksums.sqlite"


def file_status(path: str | Path) -> tuple[int, int, int, int, int]:
    """(device, inode, size, mtime_ns, ctime_ns): what a result is remembered with (take it
    before reading the file)."""
    st = Path(path).stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _execute(sql: str, args: tuple) -> list:
    """Run one statement on the cache (created if needed) and close the connection."""
    target = cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(target, timeout=10)
    try:
        with con:  # a transaction: committed, or rolled back on error
            con.execute(_SCHEMA)
            return con.execute(sql, args).fetchall()
    finally:
        con.close()


def cached_record(path: str | Path, key: str, kind: str = "validation") -> dict | None:
    """The ``kind`` result remembered for ``path`` under ``key`` if the file is unchanged since
    (else None)."""
    path = Path(path)
    try:
        status = file_status(path)
        rows = _execute(
            "SELECT key, dev, ino, size, mtime_ns, ctime_ns, value FROM file_cache "
            "WHERE path = ? AND kind = ?",
            (str(path.resolve()), kind),
        )
    except (OSError, sqlite3.Error) as exc:
        logger.debug("cache %s not readable: %s", cache_path(), exc)
        return None
    if not rows or rows[0][0] != key or tuple(rows[0][1:6]) != status:
        return None
    try:
        return json.loads(rows[0][6])
    except ValueError:
        return None


def remember_record(
    path: str | Path, key: str, status: tuple, value: dict, kind: str = "validation"
) -> None:
    """Remember ``value`` (JSON-able) as the ``kind`` result of ``path`` under ``key`` (replacing
    the previous one), valid while the file keeps ``status`` (``file_status`` taken before the
    file was read)."""
    try:
        _execute(
            "INSERT OR REPLACE INTO file_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(Path(path).resolve()), kind, key, *status, json.dumps(value)),
        )
    except (OSError, sqlite3.Error) as exc:
        logger.debug("cache %s not writable: %s", cache_path(), exc)


def file_sha256(path: str | Path, *, use_cache: bool = True) -> tuple[str, str]:
    """(hex sha256, how it was obtained: ``"computed"`` or ``"cache"``) of a file.

    Raises OSError if the file cannot be read. With ``use_cache=False`` the file is always
    hashed (and the cache refreshed).
    """
    before = file_status(path)
    if use_cache:
        cached = cached_record(path, "sha256", kind="sha256")
        if cached is not None:
            return cached["sha256"], CACHED
    sha = sha256_file(path)
    if file_status(path) == before:  # not changed while it was being read
        remember_record(path, "sha256", before, {"sha256": sha}, kind="sha256")
    return sha, COMPUTED
