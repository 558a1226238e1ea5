"""A declared variation applied to what the reconstruction and the selection consume.

* calibration: the detector's gains scaled, ``gain * (1 +- shift)`` or ``gain * factor`` with
  the per-channel factors of the calibration file's ``syst`` axis (``CalibrationSet.gain_syst``,
  written by ``na64 calibrate`` from the calibration-run uncertainties); every other constant
  unchanged, so that the tracks of the nominal reconstruction are reused (tracking reads no
  gain);
* cut: one bound of one condition moved by ``up`` / ``down`` in every period;
* weight: handled by ``na64reco.systematics.weights`` (simulation only).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from na64reco.calibration.constants import CalibrationSet
from na64reco.cutsets.config import CutSet
from na64reco.errors import CalibrationError
from na64reco.systematics.config import CalibrationShift, CutShift

__all__ = ["shifted_calibration", "shifted_cutset"]


def shifted_calibration(cset: CalibrationSet, var: CalibrationShift, direction: str):
    """``cset`` with the gains of ``var.detector`` shifted ``direction`` (up/down)."""
    det = cset.detector(var.detector)
    if var.from_file:
        if cset.gain_syst is None or var.detector not in cset.gain_syst:
            raise CalibrationError(
                f"calibration set {cset.name} has no {var.detector}_gain_syst (the syst axis "
                f"that na64 calibrate writes): variation {var.name!r} needs it"
            )
        factor = np.asarray(cset.gain_syst[var.detector][direction], dtype=float)
    else:
        factor = 1.0 + (var.shift if direction == "up" else -var.shift)
    gain = det.gain * factor
    return dataclasses.replace(
        cset, **{var.detector: dataclasses.replace(det, gain=gain)}, gain_syst=None
    )


def _moved(bound, delta: float):
    if isinstance(bound, dict):
        return {k: float(v) + delta for k, v in bound.items()}
    return float(bound) + delta


def shifted_cutset(cutset: CutSet, var: CutShift, direction: str) -> CutSet:
    """``cutset`` with the bound of ``var`` moved by ``var.up`` or ``var.down``."""
    delta = var.up if direction == "up" else var.down
    cuts = []
    for cut in cutset.cuts:
        if cut.name == var.cut:
            conds = list(cut.conditions)
            cond = conds[var.condition]
            conds[var.condition] = cond.model_copy(
                update={var.bound: _moved(getattr(cond, var.bound), delta)}
            )
            cut = cut.model_copy(update={"conditions": conds})
        cuts.append(cut)
    return cutset.model_copy(update={"cuts": cuts})
