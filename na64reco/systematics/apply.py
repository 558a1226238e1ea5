"""A declared variation applied to what the reconstruction and the selection consume.

* calibration: the detector's gains scaled, ``gain * (1 +- shift)`` or ``gain * factor`` with
  the per-channel factors of the calibration file's ``syst`` axis (``CalibrationSet.gain_syst``,
  written by ``na64 calibrate`` from the calibration-run uncertainties); every other constant
  unchanged, so that the tracks of the nominal reconstruction are reused (tracking reads no
  gain);
* cut: one bound of one condition moved by ``up`` / ``down`` in every period;
* calibration resolution (up only): the raw amplitudes of the detector in memory smeared,
  ``ped + (amp - ped) (1 + shift z)``, z a standard normal fixed by (run, spill, event,
  channel, variation name): the same for an event whatever the chunking or executor;
  saturated readings left as they are;
* weight: handled by ``na64reco.systematics.weights`` (simulation only).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from scipy.special import ndtri

from na64reco.calibration.constants import CalibrationSet
from na64reco.conditions.response import saturation_adc
from na64reco.cutsets.config import CutSet
from na64reco.errors import CalibrationError
from na64reco.systematics.config import CalibrationShift, CutShift

__all__ = ["event_normals", "shifted_calibration", "shifted_cutset", "smeared_arrays"]


def shifted_calibration(cset: CalibrationSet, var: CalibrationShift, direction: str):
    """``cset`` with the gains of ``var.detector`` shifted ``direction`` (up/down); a
    resolution variation changes no constant (``cset`` itself, see ``smeared_arrays``)."""
    if var.quantity == "resolution":
        return cset
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


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (uint64, wrapping): a counter-based hash."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def event_normals(run, spill, event, n_channels: int, salt: str) -> np.ndarray:
    """(n_events, n_channels) standard normals, a function of the event's identity only."""
    seed = np.uint64(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little"))
    key = _splitmix64(np.asarray(run, dtype=np.uint64) ^ seed)
    key = _splitmix64(key ^ np.asarray(spill, dtype=np.uint64))
    key = _splitmix64(key ^ np.asarray(event, dtype=np.uint64))
    h = _splitmix64(key[:, None] ^ np.arange(n_channels, dtype=np.uint64)[None, :])
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return ndtri(u)


def smeared_arrays(arrays: dict, cset: CalibrationSet, var: CalibrationShift) -> dict:
    """The raw arrays with ``var.detector``'s amplitudes smeared (resolution variation, up)."""
    from na64reco.reco.calorimeters import SATURATION_TOLERANCE_ADC

    det = var.detector
    amp = np.asarray(arrays[f"{det}_amp"])
    n_ch = int(np.prod(amp.shape[1:]))
    z = event_normals(arrays["run"], arrays["spill"], arrays["event"], n_ch, var.name)
    ped = cset.detector(det).pedestal
    smeared = ped + (amp - ped) * (1.0 + var.shift * z.reshape(amp.shape))
    saturated = amp >= saturation_adc(det) - SATURATION_TOLERANCE_ADC
    return {**arrays, f"{det}_amp": np.where(saturated, amp, smeared).astype(amp.dtype)}
