"""Evaluate a cut set on reconstructed variables: masks, PackedSelection, blinding.

Blinding is applied at the source: ``blind_mask`` marks the events of the signal region (the
conjunction of the cut set's ``signal_box`` cuts); processors drop them before filling any
histogram, table or event list, so no binning, N-1 plot or count can reveal them. Only an
explicit unblind (recorded in the output) keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from coffea.analysis_tools import PackedSelection

from na64reco.cutsets.config import Condition, CutSet


def condition_mask(cond: Condition, variables: dict[str, np.ndarray], period: str) -> np.ndarray:
    """``min <= x < max`` and ``x == equals`` (NaN fails every bound)."""
    lo, hi, eq = cond.bounds(period)
    x = np.asarray(variables[cond.variable])
    mask = np.ones(len(x), dtype=bool)
    if lo is not None:
        mask &= x >= lo
    if hi is not None:
        mask &= x < hi
    if eq is not None:
        mask &= x == eq
    return mask


def cut_masks(
    cutset: CutSet,
    variables: dict[str, np.ndarray],
    period: str,
    names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """One boolean mask per cut (conjunction of its conditions), in the cut-set order; only the
    cuts in ``names`` if given."""
    out = {}
    for cut in cutset.cuts:
        if names is not None and cut.name not in names:
            continue
        mask = condition_mask(cut.conditions[0], variables, period)
        for cond in cut.conditions[1:]:
            mask &= condition_mask(cond, variables, period)
        out[cut.name] = mask
    return out


def packed_selection(masks: dict[str, np.ndarray]) -> PackedSelection:
    """The masks as a coffea PackedSelection (cutflow and N-1 by name)."""
    sel = PackedSelection(dtype="uint64")
    for name, mask in masks.items():
        sel.add(name, mask)
    return sel


def blind_mask(cutset: CutSet, masks: dict[str, np.ndarray]) -> np.ndarray:
    """Events in the blinded signal region (False everywhere if the cut set has none)."""
    if not cutset.signal_box:
        n = len(next(iter(masks.values())))
        return np.zeros(n, dtype=bool)
    region = masks[cutset.signal_box[0]].copy()
    for name in cutset.signal_box[1:]:
        region &= masks[name]
    return region


__all__ = ["blind_mask", "condition_mask", "cut_masks", "packed_selection"]
