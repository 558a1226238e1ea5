"""coffea processors, one per analysis: thin, stateless, thresholds from selections/.

* ``SelectionProcessor`` with the cut set of an analysis (``na64reco.analyses.ANALYSES``);
* ``SignalEfficiencyProcessor``: the cut set on simulated signal, per model and mass;
* ``CalibrationSpectraProcessor``: raw amplitude and time spectra per channel.
"""

from na64reco.processors.calibration_spectra import CalibrationSpectraProcessor
from na64reco.processors.selection import SelectionProcessor
from na64reco.processors.signal_efficiency import SignalEfficiencyProcessor

__all__ = ["CalibrationSpectraProcessor", "SelectionProcessor", "SignalEfficiencyProcessor"]
