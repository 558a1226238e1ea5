"""Weighted cutflow and N-1 with coffea's ``PackedSelection``: sum of weights and of squares.

``PackedSelection`` gives the cumulative (``cutflow``) and N-1 (``nminusone``) masks by cut
name; the sums are taken here on those masks because coffea's weighted cutflow carries the sum
of weights only, and a weighted efficiency needs sum w^2 for its variance. With no weights
(``weights=None``) the sums are the integer counts of the unweighted selection, exactly.
"""

from __future__ import annotations

import numpy as np

from na64reco.cutsets.evaluate import packed_selection

__all__ = ["weighted_cutflow", "weighted_nminus1"]


def _sums(mask: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """[sum w, sum w^2] as an array (chunk outputs then add element by element)."""
    if weights is None:
        n = np.count_nonzero(mask)
        return np.array([n, n], dtype=np.int64)
    w = weights[mask]
    return np.array([w.sum(), np.square(w).sum()], dtype=float)


def _checked(masks: dict[str, np.ndarray], weights, commonmask):
    n = len(next(iter(masks.values())))
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)):
            raise ValueError(f"weights must be {n} finite numbers, one per event")
    common = np.ones(n, dtype=bool) if commonmask is None else np.asarray(commonmask, bool)
    return weights, common


def weighted_cutflow(
    masks: dict[str, np.ndarray],
    weights: np.ndarray | None = None,
    commonmask: np.ndarray | None = None,
    initial: str = "all",
) -> dict[str, np.ndarray]:
    """``{initial: [sumw, sumw2], cut: [sumw, sumw2], ...}`` after each cumulative cut, in
    the order of ``masks``; ``commonmask``: the events counted at all (e.g. the visible ones)."""
    weights, common = _checked(masks, weights, commonmask)
    sel = packed_selection(masks)
    result = sel.cutflow(*masks).result()
    out = {initial: _sums(common, weights)}
    for name, mask in zip(masks, result.maskscutflow, strict=True):
        out[name] = _sums(np.asarray(mask) & common, weights)
    return out


def weighted_nminus1(
    masks: dict[str, np.ndarray],
    weights: np.ndarray | None = None,
    commonmask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``{cut: [sumw, sumw2]}`` of the events passing every cut but ``cut``."""
    weights, common = _checked(masks, weights, commonmask)
    result = packed_selection(masks).nminusone(*masks).result()
    # masks: N - cut_1, ..., N - cut_n, then all cuts
    return {
        name: _sums(np.asarray(mask) & common, weights)
        for name, mask in zip(masks, result.masks[:-1], strict=True)
    }
