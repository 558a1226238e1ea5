"""Background estimate and normalisation of the invisible-mode search (issue 5).

* ``sideband``: unbinned extended ML fit of the E_ECAL sideband, extrapolated into the box;
* ``abcd``: the A, C, D regions of paper 002 with an MC closure factor;
* ``truth``: fast truth-level simulated planes (coverage ensembles, closure);
* ``exposure``: EOT from the beam trigger, the dimuon cross-check;
* ``build``: run outputs -> ``background.json``, Markdown table, plots, ``limit_inputs.json``.
"""

from na64reco.background.build import build_background, write_inputs
from na64reco.background.sideband import SidebandFitError, sideband_estimate

__all__ = ["SidebandFitError", "build_background", "sideband_estimate", "write_inputs"]
