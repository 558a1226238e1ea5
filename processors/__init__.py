"""coffea processors, one per analysis.

Invisible search, dimuon benchmark, phi search, calibration spectra, signal efficiency: added
by the processors issue.
"""
