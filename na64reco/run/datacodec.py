"""A data-only encoding of processor outputs (the chunk checkpoints): nothing in it is code.

``encode(value)`` turns a processor output (dicts, lists, tuples, sets, str, bytes, numbers,
numpy arrays and scalars of numeric or boolean dtype, ``hist.Hist``) into JSON-typed data;
``decode`` turns it back into the same types. Decoding only ever builds those types: no class
is looked up by a name found in the data and no object dtype is accepted, so a crafted file
cannot run anything (unlike pickle, whose loader calls whatever the file names). Histograms go
through hist's own serialisation (the UHI schema, ``hist.serialization``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import hist
import lz4.frame
import numpy as np
from hist import serialization

__all__ = ["DecodeError", "decode", "dumps", "encode", "loads"]

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, void or strings of code


class DecodeError(ValueError):
    """Data that is not an encoding made by ``encode``."""


def _dtype(text: Any) -> np.dtype:
    try:
        dtype = np.dtype(str(text))
    except TypeError as exc:
        raise DecodeError(f"unknown dtype {text!r}") from exc
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise DecodeError(f"dtype {text!r} is not numeric")
    return dtype


def encode(value: Any) -> Any:
    """JSON-typed data for ``value`` (TypeError for a type outside the module docstring's)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"t": "bytes", "b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray | np.generic) and (
        value.dtype.kind not in _NUMERIC_KINDS or value.dtype.fields is not None
    ):
        raise TypeError(f"arrays of dtype {value.dtype} cannot be checkpointed")
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {
            "t": "nd",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "b64": base64.b64encode(data.tobytes()).decode("ascii"),
        }
    if isinstance(value, np.generic):
        return {"t": "np", "dtype": value.dtype.str, "v": value.item()}
    if isinstance(value, hist.Hist):
        return {"t": "hist", "v": encode(serialization.to_uhi(value))}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return {"t": "list", "v": [encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"t": "set", "v": [encode(v) for v in sorted(value, key=repr)]}
    raise TypeError(f"{type(value).__name__} cannot be checkpointed")


def decode(data: Any) -> Any:
    """The value ``encode`` was given (DecodeError for anything else)."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if not isinstance(data, dict) or "t" not in data:
        raise DecodeError(f"not an encoded value: {type(data).__name__}")
    tag = data["t"]
    if tag == "bytes":
        return base64.b64decode(str(data.get("b64", "")), validate=True)
    if tag == "nd":
        dtype = _dtype(data.get("dtype"))
        shape = tuple(int(n) for n in data.get("shape", ()))
        raw = base64.b64decode(str(data.get("b64", "")), validate=True)
        if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise DecodeError(f"array of {len(raw)} bytes for shape {shape} of {dtype}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if tag == "np":
        return _dtype(data.get("dtype")).type(data.get("v"))
    if tag == "hist":
        out = serialization.from_uhi(decode(data.get("v")))
        if not isinstance(out, hist.Hist):
            raise DecodeError("not a histogram")
        return out
    items = data.get("v")
    if not isinstance(items, list):
        raise DecodeError(f"{tag}: expected a list")
    if tag == "dict":
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError("dict: expected [key, value] pairs")
            key = decode(pair[0])
            if not isinstance(key, str | int | float | bool | tuple) and key is not None:
                raise DecodeError(f"dict key of type {type(key).__name__}")
            out[key] = decode(pair[1])
        return out
    if tag == "list":
        return [decode(v) for v in items]
    if tag == "tuple":
        return tuple(decode(v) for v in items)
    if tag == "set":
        return {decode(v) for v in items}
    raise DecodeError(f"unknown tag {tag!r}")


def dumps(value: Any) -> bytes:
    """``encode`` as compact JSON, lz4-compressed."""
    return lz4.frame.compress(json.dumps(encode(value), separators=(",", ":")).encode())


def loads(data: bytes) -> Any:
    """The inverse of ``dumps`` (DecodeError for damaged or foreign bytes)."""
    try:
        text = lz4.frame.decompress(data)
        raw = json.loads(text)
    except (RuntimeError, ValueError) as exc:  # lz4 raises RuntimeError on damaged frames
        raise DecodeError(f"not an encoded payload: {exc}") from None
    try:
        return decode(raw)
    except DecodeError:
        raise
    except Exception as exc:  # from_uhi or numpy on a malformed but well-formed-JSON object
        raise DecodeError(f"{type(exc).__name__}: {exc}") from None
