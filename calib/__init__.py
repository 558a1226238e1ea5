"""Versioned calibration constants (correctionlib JSON) and the recipe that derives them.

The recipe (``na64reco.calib.derive``) sits above the reconstruction and the simulation: it
uses the reconstruction to build the reference shower profile and the simulation's response
models for the containment and the MIP/SR reference spectra. Applying constants
(``na64reco.calibration``) needs none of it.
"""
