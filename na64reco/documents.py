"""Reading and writing the toolkit's documents: one loader, one JSON encoder, one atomic writer.

* ``read_document(path, model, ...)`` reads a JSON or TOML file, checks its ``format`` and
  ``version`` (when the document kind has them) and validates it with a pydantic model; every
  problem is a ``ConfigError(file, key, problem)`` with the key as a dotted path
  (``files.2.run_max``). The fileset manifests, cut sets, limit inputs and calibration files
  all load through it.
* ``to_jsonable`` is the one ``json.dumps(default=...)`` for numpy scalars and arrays, sets and
  paths; ``plain`` makes a JSON-typed copy (optionally with NaN as null); ``dumps_json``
  refuses NaN and infinity (a JSON document never carries them).
* ``atomic_path`` / ``write_bytes`` / ``write_text`` / ``write_json`` write beside the target
  and rename into place (``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from na64reco.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "atomic_path",
    "dumps_json",
    "error_key",
    "plain",
    "read_document",
    "read_raw",
    "to_jsonable",
    "write_bytes",
    "write_json",
    "write_text",
]


def error_key(loc: Sequence[Any]) -> str:
    """The dotted key of a pydantic error location (``files.2.run_max``)."""
    return ".".join(str(p) for p in loc) or "(top level)"


def read_raw(path: str | Path, kind: str = "json") -> dict:
    """The top-level object of a JSON (``kind="json"``) or TOML file; ConfigError otherwise."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, "(file)", f"not a {kind.upper()} text file (byte {exc.start} is not UTF-8)"
        ) from exc
    try:
        raw = tomllib.loads(text) if kind == "toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "(file)", f"malformed {kind.upper()}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(path, "(top level)", f"must be a {kind.upper()} object")
    return raw


def read_document(
    path: str | Path,
    model: type[M],
    *,
    kind: str = "json",
    format_name: str | None = None,
    versions: Sequence[int] | None = None,
    prepare: Callable[[dict], dict] | None = None,
    context: dict | None = None,
) -> M:
    """Read ``path`` and validate it as ``model``; ``ConfigError(path, key, problem)`` on any
    problem. ``format_name``/``versions``: the required ``format`` string and the known
    ``version`` numbers (checked before the model, so that a foreign or newer file gets a clear
    message). ``prepare`` may adjust the raw object first (e.g. add the source path)."""
    path = Path(path)
    raw = read_raw(path, kind)
    if format_name is not None and raw.get("format") != format_name:
        raise ConfigError(path, "format", f"must be {format_name!r}, found {raw.get('format')!r}")
    if versions is not None and raw.get("version") not in versions:
        known = ", ".join(map(str, versions))
        raise ConfigError(
            path, "version", f"unknown version {raw.get('version')!r}; known: {known}"
        )
    if prepare is not None:
        raw = prepare(raw)
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(path, error_key(err["loc"]), err["msg"]) from exc


def to_jsonable(value: Any) -> Any:
    """``json.dumps`` default: numpy scalars and arrays, sets (sorted), paths, pydantic models."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plain(value: Any, *, nan_as_null: bool = False) -> Any:
    """A copy of ``value`` made of JSON types only (dicts, lists, str, int, float, bool, None);
    ``nan_as_null``: a non-finite number (an undefined ratio, say) becomes None."""
    if isinstance(value, dict):
        return {str(k): plain(v, nan_as_null=nan_as_null) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, nan_as_null=nan_as_null) for v in value]
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if nan_as_null and not np.isfinite(v) else v
    return plain(to_jsonable(value), nan_as_null=nan_as_null)


def dumps_json(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON text of ``value`` (``to_jsonable`` for numpy and friends; NaN/inf refused)."""
    return json.dumps(
        value, indent=indent, sort_keys=sort_keys, allow_nan=False, default=to_jsonable
    )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed to ``path`` when the block succeeds (removed
    otherwise): a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` atomically (``fsync``: to the disk before the rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, value: Any, *, sort_keys: bool = False) -> Path:
    """Write ``value`` as indented JSON atomically (models through ``model_dump``)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return write_text(path, dumps_json(value, sort_keys=sort_keys) + "\n")
