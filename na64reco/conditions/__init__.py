"""Conditions: run periods, detector geometry and response, process table, true calibration."""

from na64reco.conditions.periods import (
    PERIODS,
    Geometry,
    RunPeriod,
    TrackerStation,
    TriggerConditions,
    get_period,
    period_of_run,
)
from na64reco.conditions.response import ELECTRONICS, RESPONSE, ChannelElectronics, Response

__all__ = [
    "ELECTRONICS",
    "PERIODS",
    "RESPONSE",
    "ChannelElectronics",
    "Geometry",
    "Response",
    "RunPeriod",
    "TrackerStation",
    "TriggerConditions",
    "get_period",
    "period_of_run",
]
