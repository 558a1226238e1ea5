"""Systematic variations and event weights: declared as data, evaluated in the same pass.

``config``: the validated TOML of an analysis' systematic sources (calibration scale shifts per
detector, cut-value shifts, simulation-only weight variations); ``apply``: a variation applied
to the constants, the cut set or the event weights; ``weights``: the simulation weights;
``cutflow``: weighted cutflows (sum of weights, sum of squared weights) with coffea's
``PackedSelection``; ``nuisances``: the per-period nuisance dicts of ``limit_inputs.json``.
"""
