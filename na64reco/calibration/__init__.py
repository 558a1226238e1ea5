"""Calibration: constants in memory, their correctionlib files, and their derivation."""

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
