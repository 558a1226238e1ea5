"""Content-hashed numerical tables on disk (no pickle): shipped with the package or cached.

A table is an ``.npz`` of plain arrays plus a ``content_hash`` entry, the sha256 of a JSON
description of everything that determines its values (grids, constants, algorithm version). A
shipped table (``na64reco/physics/data``) is used when its hash matches; otherwise the user cache
(``$NA64RECO_CACHE_DIR``, else ``$XDG_CACHE_HOME/na64reco``, else ``~/.cache/na64reco``) is tried,
and failing that the table is computed and written there (atomically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["DATA_DIR", "cache_dir", "content_hash", "load_or_build"]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).with_name("data")


def cache_dir() -> Path:
    """The user cache folder for computed tables."""
    env = os.environ.get("NA64RECO_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "na64reco"


def content_hash(description: dict) -> str:
    """sha256 (hex, 16 characters) of a canonical JSON description."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(path: Path, digest: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["content_hash"]) != digest:
                return None
            return {k: f[k] for k in f.files}
    except (OSError, KeyError, ValueError) as exc:
        logger.warning("ignoring unreadable table %s: %s", path, exc)
        return None


def load_or_build(
    name: str, description: dict, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays of table ``name`` for ``description``: shipped, cached, or built and cached."""
    digest = content_hash(description)
    shipped = DATA_DIR / f"{name}.npz"
    if shipped.exists():
        arrays = _read(shipped, digest)
        if arrays is not None:
            return arrays
    cached = cache_dir() / f"{name}-{digest}.npz"
    if cached.exists():
        arrays = _read(cached, digest)
        if arrays is not None:
            return arrays
    logger.info("computing table %s (hash %s); cached as %s", name, digest, cached)
    arrays = dict(build())
    arrays["content_hash"] = np.array(digest)
    arrays["description"] = np.array(json.dumps(description, sort_keys=True, default=str))
    try:
        write_table(cached, arrays)
    except OSError as exc:  # read-only home: still usable for this process
        logger.warning("could not cache table %s in %s: %s", name, cached.parent, exc)
    return arrays


def write_table(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write an npz atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
