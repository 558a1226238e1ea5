"""The numbers of the calibration recipe (``na64reco.calib.derive``), in one place.

Each is a choice of the method, not a detector condition: thresholds in units of a channel's
noise, minimum statistics per fit, the seed of the model spectra the gains are matched to.
"""

from __future__ import annotations

COUNTER_NAMES = ("S0", "S1", "S2", "V1")
BUSY_SIGMAS = 6.0  # random trigger with any channel above this is not used for pedestals
NOISY_FACTOR = 3.0  # noise above 3x the detector type's median noise: noisy
PULSE_SIGMAS = 10.0  # signal used for t0
SIGNAL_SIGMAS = 8.0  # MIP candidates (HCAL, VETO, counters)
DEAD_SIGMAS = 20.0  # an ECAL channel that never exceeds this in a cell scan is dead
PILEUP_SIGMAS = 20.0
MIN_PEDESTAL_EVENTS = 20
MIN_ENTRIES = 30  # per channel and peak fit (MIP peaks, t0)
MIN_SCAN_ENTRIES = 10  # ECAL: scan events with a signal in the channel (least-squares fit)
OUTLIER_SIGMAS = 4.0
CONTAINMENT_SAMPLES = 4000
# SRD gains: the trimmed mean (between these quantiles) of each module's signal in scan
# electrons over the same trimmed mean of the SR model: 0.7%/sqrt(N/1e4) statistical, and the
# trimming keeps the upper tail of merged pile-up pulses out.
SRD_TRIM = (0.05, 0.95)
MODEL_SEED = 20240917  # fixed seed of the model spectra (reference values)

__all__ = [
    "BUSY_SIGMAS",
    "CONTAINMENT_SAMPLES",
    "COUNTER_NAMES",
    "DEAD_SIGMAS",
    "MIN_ENTRIES",
    "MIN_PEDESTAL_EVENTS",
    "MIN_SCAN_ENTRIES",
    "MODEL_SEED",
    "NOISY_FACTOR",
    "OUTLIER_SIGMAS",
    "PILEUP_SIGMAS",
    "PULSE_SIGMAS",
    "SIGNAL_SIGMAS",
    "SRD_TRIM",
]
