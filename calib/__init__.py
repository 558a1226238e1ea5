"""Versioned calibration constants (correctionlib JSON) and the recipe that derives them."""
