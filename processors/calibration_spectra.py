"""Calibration spectra: raw amplitude and time spectra of every calorimeter channel.

For calibration and random-trigger runs (and any other): per detector, the pedestal-subtracted
amplitude of every channel (``amplitude``) and its pulse time (``time``), split by trigger type,
so that the peaks the calibration fits (pedestals, MIP and electron peaks, t0) can be inspected.
Raw quantities only: nothing here depends on a calibration.
"""

from __future__ import annotations

import hist
import numpy as np
from coffea import processor

from na64reco.eventtree.contract import (
    TRIGGER_BEAM,
    TRIGGER_CALIBRATION,
    TRIGGER_PHYSICS,
    TRIGGER_RANDOM,
)
from na64reco.eventtree.nanoevents import DETECTOR_COLLECTIONS

TRIGGER_TYPES = {
    "physics": TRIGGER_PHYSICS,
    "beam": TRIGGER_BEAM,
    "random": TRIGGER_RANDOM,
    "calibration": TRIGGER_CALIBRATION,
}


class CalibrationSpectraProcessor(processor.ProcessorABC):
    """Amplitude [ADC] and time [ns] spectra per channel, detector and trigger type."""

    def _hists(self, n_channels: int) -> dict:
        trig = hist.axis.StrCategory(list(TRIGGER_TYPES), name="trigger")
        chan = hist.axis.Integer(0, n_channels, name="channel", label="flat channel index")
        return {
            "amplitude": hist.Hist(
                trig,
                chan,
                hist.axis.Regular(512, 0, 4096, name="amp", label="amplitude [ADC]"),
                storage=hist.storage.Int64(),
            ),
            "time": hist.Hist(
                trig,
                chan,
                hist.axis.Regular(160, -100, 100, name="t", label="time [ns]"),
                storage=hist.storage.Int64(),
            ),
        }

    def process(self, events):
        out = {"files": {events.metadata["filename"]: len(events)}, "spectra": {}}
        trigger = np.asarray(events.trigger)
        for collection, (detector, _) in DETECTOR_COLLECTIONS.items():
            col = events[collection]
            amp = np.asarray(col.amp).reshape(len(events), -1)
            t = np.asarray(col.t).reshape(len(events), -1)
            h = self._hists(amp.shape[1])
            channel = np.broadcast_to(np.arange(amp.shape[1]), amp.shape)
            for name, bit in TRIGGER_TYPES.items():
                rows = (trigger & bit) > 0
                if rows.any():
                    h["amplitude"].fill(
                        trigger=name, channel=channel[rows].ravel(), amp=amp[rows].ravel()
                    )
                    h["time"].fill(trigger=name, channel=channel[rows].ravel(), t=t[rows].ravel())
            out["spectra"][detector] = h
        return out

    def postprocess(self, accumulator):
        return accumulator


__all__ = ["CalibrationSpectraProcessor"]
