"""Per-file metadata: a JSON object stored as the TObjString ``na64_metadata``.

Contract: the object must hold ``schema_version`` (an int in
``contract.KNOWN_SCHEMA_VERSIONS``). The other documented keys are optional, but when present
they must have the documented JSON type (see ``METADATA_KEYS``); any further keys are kept as
they are. Encoding is canonical (sorted keys, no whitespace, no NaN) so identical dicts give
identical bytes.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from na64reco.documents import to_jsonable
from na64reco.errors import InputFileError, SchemaVersionError
from na64reco.eventtree import contract

logger = logging.getLogger(__name__)

__all__ = [
    "METADATA_KEYS",
    "decode_metadata",
    "encode_metadata",
    "normalize_metadata",
    "validate_metadata",
]

_NUMBER = (int, float)

#: Documented metadata keys -> (accepted JSON types, meaning). Only ``schema_version`` is required.
METADATA_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "schema_version": ((int,), "event-tree schema version (required)"),
    "period": ((str,), "run period, e.g. '2023B'"),
    "beam_energy_gev": (_NUMBER, "nominal beam energy [GeV]"),
    "simulation": ((bool,), "true for files made by na64reco.sim"),
    "generator": ((dict,), "simulation generator name, version and settings"),
    "seed": ((int,), "random seed of the simulation"),
    "eot": (_NUMBER, "exposure in electrons on target"),
    "true_calibration": ((dict,), "true calibration constants used to make the raw amplitudes"),
    "source": ((str,), "free text: how the file was made (converter, command)"),
}


def encode_metadata(metadata: dict[str, Any]) -> str:
    """Canonical JSON text of ``metadata`` (sorted keys, compact, finite numbers only)."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    try:
        return json.dumps(
            metadata,
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
            ensure_ascii=True,
            default=to_jsonable,
        )
    except ValueError as exc:  # NaN/inf
        raise ValueError(f"metadata is not valid JSON: {exc}") from exc


def normalize_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as it will read back from a file (tuples -> lists, numpy -> Python)."""
    return json.loads(encode_metadata(metadata))


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def validate_metadata(metadata: Any, path: str | Path) -> dict[str, Any]:
    """Check a decoded metadata object; raise InputFileError / SchemaVersionError naming the key."""
    item = contract.METADATA_NAME
    if not isinstance(metadata, dict):
        raise InputFileError(path, item, f"must be a JSON object, found {type(metadata).__name__}")
    if "schema_version" not in metadata:
        raise InputFileError(path, f"{item}.schema_version", "missing")
    version = metadata["schema_version"]
    if not _type_ok(version, (int,)) or version not in contract.KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in contract.KNOWN_SCHEMA_VERSIONS)
        raise SchemaVersionError(
            path,
            f"{item}.schema_version",
            f"unknown schema version {version!r}; known versions: {known}",
        )
    for key, (types, _doc) in METADATA_KEYS.items():
        if key in metadata and not _type_ok(metadata[key], types):
            names = " or ".join(t.__name__ for t in types)
            raise InputFileError(path, f"{item}.{key}", f"must be {names}, found {metadata[key]!r}")
    return metadata


def decode_metadata(text: str, path: str | Path) -> dict[str, Any]:
    """Parse and validate the JSON text of ``na64_metadata``."""
    try:
        metadata = json.loads(text)
    except ValueError as exc:
        raise InputFileError(path, contract.METADATA_NAME, f"malformed JSON: {exc}") from exc
    return validate_metadata(metadata, path)
