"""Calibration sanity: every gain in use within a factor of the nominal gain of its detector.

The nominal gain of a channel is that of its read-out type in ``na64reco.conditions.response``
(``ELECTRONICS``: ECAL preshower and main section, HCAL, SRD, VETO, counters), in GeV per ADC
count. A channel in use (status good or noisy) whose gain differs from it by more than
``GAIN_WARN_FACTOR`` is flagged (a WARNING and an entry in the run's ``flags``); by more than
the tolerance (``RunOptions.gain_tolerance``, default ``DEFAULT_GAIN_TOLERANCE``) it is an error:
such constants (a unit slip, a x1000 or x1e6 gain) would move every energy and silently empty
the trigger or fill the box.
"""

from __future__ import annotations

import logging

import numpy as np

from na64reco.calibration.constants import CalibrationDB, CalibrationSet
from na64reco.conditions.response import ELECTRONICS
from na64reco.errors import ConfigError

logger = logging.getLogger(__name__)

#: [choose] the channel-to-channel spread of the gains is 12-15% (conditions.response): a
#: factor 2 is ~5 sigma off, flagged (the shipped 2022 constants have one ECAL preshower channel
#: at 13.9 x nominal: flagged); a factor 100 is no calibration of this detector but a unit or
#: scale slip (x1000 MeV/GeV, x1e6), an error
GAIN_WARN_FACTOR = 2.0
DEFAULT_GAIN_TOLERANCE = 100.0

__all__ = ["DEFAULT_GAIN_TOLERANCE", "GAIN_WARN_FACTOR", "check_gains", "nominal_gain"]


def nominal_gain(detector: str, shape: tuple[int, ...]) -> np.ndarray:
    """The nominal gain [GeV/ADC] of every channel of ``detector`` (array of ``shape``)."""
    if detector == "ecal":
        out = np.empty(shape)
        out[0] = 1.0 / ELECTRONICS["ecal_ps"].gain_adc_per_gev
        out[1:] = 1.0 / ELECTRONICS["ecal_main"].gain_adc_per_gev
        return out
    return np.full(shape, 1.0 / ELECTRONICS[detector].gain_adc_per_gev)


def _check_set(source: str, cset: CalibrationSet, tolerance: float) -> list[dict]:
    flags = []
    for det in ("ecal", "hcal", "srd", "veto", "counter"):
        c = cset.detector(det)
        in_use = (c.status == 0) | (c.status == 2)
        if not in_use.any():
            continue
        nominal = nominal_gain(det, c.gain.shape)
        ratio = np.where(in_use, c.gain / nominal, 1.0)
        off = np.maximum(ratio, 1.0 / np.maximum(ratio, 1e-300))
        worst = np.unravel_index(int(np.argmax(off)), off.shape)
        where = (
            f"set {cset.name}: gain {c.gain[worst]:.3g} GeV/ADC at channel "
            f"{tuple(int(i) for i in worst)} is {ratio[worst]:.3g} x the nominal "
            f"{nominal[worst]:.3g}"
        )
        if off[worst] > tolerance:
            raise ConfigError(
                source,
                f"corrections.{det}_gain",
                f"{where}: beyond the tolerated factor {tolerance:g} (gain_tolerance); "
                "constants of another detector or unit?",
            )
        n_warn = int((off > GAIN_WARN_FACTOR).sum())
        if n_warn:
            problem = (
                f"{n_warn} channel(s) more than a factor {GAIN_WARN_FACTOR:g} from the nominal "
                f"gain (worst: {where})"
            )
            _warn_once(f"{source}: corrections.{det}_gain: {problem}")
            flags.append({"item": f"{source}: corrections.{det}_gain", "problem": problem})
    return flags


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Log a flag once per process (a chain loads the same constants in every stage; each
    output still records the flag)."""
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning("%s", message)


def check_gains(calibration: CalibrationDB, tolerance: float = DEFAULT_GAIN_TOLERANCE) -> list:
    """Flags (``{"item", "problem"}``) for gains beyond ``GAIN_WARN_FACTOR`` of the nominal;
    ConfigError naming the file, the correction and the channel beyond ``tolerance``."""
    source = calibration.source or "calibration"
    return [flag for cset in calibration.sets for flag in _check_set(source, cset, tolerance)]
