"""One-pass screen of amplitude and time values (``reader.check_values``'s fast path)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["all_within"]


@njit(cache=True)
def _all_within(flat, limit):
    ok = True
    for i in range(flat.size):
        ok &= abs(flat[i]) <= limit  # False for NaN; an infinity exceeds any finite limit
    return ok


def all_within(values: np.ndarray, limit: float) -> bool:
    """True when every value is finite and ``|value| <= limit`` (``limit`` finite).

    One vectorised pass instead of numpy's min and max (two passes); a float32 array is
    compared with ``limit`` as float32, as numpy does for a float32 array and a Python float.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype.kind != "f":
        raise TypeError(f"expected a float array, got {flat.dtype}")
    return bool(_all_within(flat, flat.dtype.type(limit)))
