"""Calibration constants in memory: what reconstruction consumes, what derivation produces.

One :class:`CalibrationSet` holds every constant valid for one run range (one period's
calibration epoch). A :class:`CalibrationDB` holds several and picks the one for a run; a run in
no range is an error naming the run. The on-disk form is correctionlib JSON (``io.py``).

Conventions (analysis.md): pedestal in ADC, ``gain`` in GeV per ADC count (energy = (amp -
pedestal) * gain), noise in ADC (RMS of random triggers), ``t0`` in ns (raw time of an in-time
pulse), status 0 good, 1 dead, 2 noisy, 3 absent (not instrumented). Dead and absent channels
read zero energy after calibration; noisy channels are kept but flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from na64reco.conditions.truth_calibration import (
    STATUS_ABSENT,
    STATUS_DEAD,
    STATUS_GOOD,
    STATUS_NOISY,
)
from na64reco.errors import CalibrationError
from na64reco.eventtree.contract import CALORIMETER_DETECTORS


@dataclass(frozen=True)
class DetectorConstants:
    """Per-channel constants of one detector; arrays have the detector's channel shape."""

    pedestal: np.ndarray
    gain: np.ndarray  # GeV per ADC count
    noise: np.ndarray  # ADC
    t0: np.ndarray  # ns
    status: np.ndarray  # int8

    @property
    def shape(self) -> tuple[int, ...]:
        return self.pedestal.shape

    @property
    def usable(self) -> np.ndarray:
        """Channels whose energy is used: not dead, not absent."""
        return (self.status != STATUS_DEAD) & (self.status != STATUS_ABSENT)


@dataclass(frozen=True)
class ShowerProfile:
    """Reference EM-shower profile for the shower-shape chi2 (a calibration artefact).

    ``mean[i, j]`` and ``sigma[i, j]`` are (3, 3) arrays of the expected energy fraction of the
    3x3 cells around the hit cell (index [dx + 1, dy + 1]) for showers whose centre of gravity
    lies in offset bin (i, j) within the hit cell (``offset_edges_cm`` along x and y, relative to
    the cell centre). Fractions are of the 3x3 sum, main + preshower.
    """

    offset_edges_cm: np.ndarray
    mean: np.ndarray  # (n_bins, n_bins, 3, 3)
    sigma: np.ndarray  # (n_bins, n_bins, 3, 3)


@dataclass(frozen=True)
class CalibrationSet:
    """Every constant valid for runs ``run_min`` .. ``run_max`` (inclusive)."""

    name: str
    version: int
    description: str
    period: str
    run_min: int
    run_max: int
    ecal: DetectorConstants
    hcal: DetectorConstants
    srd: DetectorConstants
    veto: DetectorConstants
    counter: DetectorConstants
    mm_t0: np.ndarray  # (n_mm_stations,) ns: raw time of in-time MM hits
    straw_window_ns: np.ndarray  # (n_straw_stations, 2): raw-time window of in-time straw hits
    counter_threshold_adc: np.ndarray  # (4,) discriminator thresholds above pedestal (0.5 MIP)
    shower_profile: ShowerProfile | None  # None until derived from electron showers
    provenance: dict = field(default_factory=dict)  # inputs (files, sha256), recipe, versions
    # the calibration-run uncertainty of the gains as factors on them: {det: {"up": array,
    # "down": array}} in the detector's channel shape (the files' ``<det>_gain_syst``), or None
    gain_syst: dict | None = None

    def detector(self, name: str) -> DetectorConstants:
        return getattr(self, name)

    def covers(self, run: int) -> bool:
        return self.run_min <= run <= self.run_max


@dataclass(frozen=True)
class CalibrationDB:
    """Several calibration sets (e.g. one per period); ``for_run`` picks the right one."""

    sets: tuple[CalibrationSet, ...]
    source: str = ""  # the file it was loaded from, for error messages

    def for_run(self, run: int) -> CalibrationSet:
        for cset in self.sets:
            if cset.covers(int(run)):
                return cset
        ranges = ", ".join(f"{c.name} v{c.version}: {c.run_min}-{c.run_max}" for c in self.sets)
        where = f"{self.source}: " if self.source else ""
        raise CalibrationError(f"{where}run {int(run)} has no calibration constants ({ranges})")

    def for_runs(self, runs: np.ndarray) -> dict[int, CalibrationSet]:
        """The set of every distinct run in ``runs`` (error naming the first uncovered run)."""
        return {int(r): self.for_run(int(r)) for r in np.unique(runs)}


__all__ = [
    "CALORIMETER_DETECTORS",
    "STATUS_ABSENT",
    "STATUS_DEAD",
    "STATUS_GOOD",
    "STATUS_NOISY",
    "CalibrationDB",
    "CalibrationError",
    "CalibrationSet",
    "DetectorConstants",
    "ShowerProfile",
]
