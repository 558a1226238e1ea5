"""coffea processors, one per analysis: thin, stateless, thresholds from selections/.

* ``SelectionProcessor`` with the ``invisible``, ``dimuon`` or ``phi`` cut set (``ANALYSES``);
* ``SignalEfficiencyProcessor``: the cut set on simulated signal, per model and mass;
* ``CalibrationSpectraProcessor``: raw amplitude and time spectra per channel.
"""

from na64reco.processors.calibration_spectra import CalibrationSpectraProcessor
from na64reco.processors.selection import SelectionProcessor
from na64reco.processors.signal_efficiency import SignalEfficiencyProcessor, efficiencies

# analysis name -> the cut set it runs (selections/<name>.toml) with SelectionProcessor
ANALYSES = ("invisible", "dimuon", "phi")

__all__ = [
    "ANALYSES",
    "CalibrationSpectraProcessor",
    "SelectionProcessor",
    "SignalEfficiencyProcessor",
    "efficiencies",
]
