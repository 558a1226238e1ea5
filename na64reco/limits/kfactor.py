"""The former K-factor treatment (IWW / K), kept as ``cross_section="iww-k"`` for comparisons.

K(m) = IWW / ETL total cross sections at 100 GeV from analysis.md (DMG4): (20 MeV, 1.2),
(100 MeV, 1.65), (1 GeV, 2.1), linear in ln m, constant above 1 GeV; below 20 MeV the 20-100 MeV
slope continued down to K = 1 (9.8 MeV) and 1 below. It is a ratio of *total* cross sections
applied to the signal window and, for S, P, A and phi, borrowed from the vector: the exact
tree-level spectra (``cross_section="etl"``, physics.etl) replace it; at ~1 MeV it is 26 % off
(ETL / IWW = 1.3 there, not 1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["K_FACTOR_POINTS", "k_factor"]

K_FACTOR_POINTS = ((0.020, 1.2), (0.100, 1.65), (1.0, 2.1))


def k_factor(mass_gev):
    """IWW / ETL K(m) of the module docstring (vectorised)."""
    lm = np.log(np.asarray(mass_gev, dtype=float))
    xs = np.log([p[0] for p in K_FACTOR_POINTS])
    ys = [p[1] for p in K_FACTOR_POINTS]
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    low = np.maximum(1.0, ys[0] + slope * (lm - xs[0]))
    out = np.where(lm < xs[0], low, np.interp(lm, xs, ys))
    return out if np.ndim(out) else float(out)
