"""Calibration constants: in memory, their correctionlib files, the true ones of simulation.

Deriving constants from calibration runs is ``na64reco.calib.derive`` (a layer above).
"""

from na64reco.calibration.constants import (
    CalibrationDB,
    CalibrationError,
    CalibrationSet,
    DetectorConstants,
    ShowerProfile,
)

__all__ = [
    "CalibrationDB",
    "CalibrationError",
    "CalibrationSet",
    "DetectorConstants",
    "ShowerProfile",
]
