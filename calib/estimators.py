"""Robust estimators and peak fits used by the calibration derivation (pure numpy / iminuit).

Every function returns ``None`` (never a default value) when it cannot produce an estimate, so
the caller can report the channel by name and flag it.
"""

from __future__ import annotations

import numpy as np
from iminuit import Minuit
from iminuit.cost import LeastSquares, UnbinnedNLL
from scipy import special

MAD_TO_SIGMA = 1.4826
MOYAL_MEDIAN_OFFSET = -np.log(2 * special.erfinv(0.5) ** 2)  # median - mode of a unit Moyal


def clipped_mean_rms(
    values: np.ndarray, n_sigma: float = 4.0, iterations: int = 5
) -> tuple[float, float, int]:
    """Mean, RMS and count of ``values`` after iterative ``n_sigma`` clipping (from median/MAD)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    centre = float(np.median(v))
    width = MAD_TO_SIGMA * float(np.median(np.abs(v - centre)))
    sel = v
    for _ in range(iterations):
        if width <= 0:
            sel = v[v == centre]
            break
        sel = v[np.abs(v - centre) < n_sigma * width]
        if len(sel) < 2:
            break
        centre, width = float(sel.mean()), float(sel.std())
    return centre, width, len(sel)


def peak_centre(
    values: np.ndarray, width_guess: float, iterations: int = 6
) -> tuple[float, float, int] | None:
    """Centre, width and count of the main peak of ``values`` over a flat background.

    Starts at the mode of a histogram with bins of ``width_guess / 2`` and iterates the median of
    the values within +- 3 widths of the centre (the width re-estimated from the MAD, never below
    ``width_guess / 4``); a flat background symmetric about the peak does not bias it.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 5:
        return None
    step = max(width_guess / 2, 1e-6)
    edges = np.arange(v.min(), v.max() + 2 * step, step)
    counts, edges = np.histogram(v, edges)
    centre = float(0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1]))
    width = width_guess
    sel = v
    for _ in range(iterations):
        sel = v[np.abs(v - centre) < 3 * width]
        if len(sel) < 5:
            return None
        centre = float(np.median(sel))
        width = max(MAD_TO_SIGMA * float(np.median(np.abs(sel - centre))), width_guess / 4)
    return centre, width, len(sel)


def _moyal_logpdf(x: np.ndarray, mpv: float, scale: float) -> np.ndarray:
    z = (x - mpv) / scale
    return -0.5 * (z + np.exp(-z)) - np.log(scale) - 0.5 * np.log(2 * np.pi)


def _moyal_cdf(x: float, mpv: float, scale: float) -> float:
    z = (x - mpv) / scale
    return float(special.erfc(np.exp(-z / 2) / np.sqrt(2)))


def fit_moyal_mpv(values: np.ndarray, min_entries: int = 30) -> dict | None:
    """Most probable value of a Landau-like (Moyal) peak: unbinned ML fit with iminuit.

    The fit range is [mode - 2.5 w, mode + 6 w] around a robust first estimate (w: the Moyal
    scale from the MAD), the pdf normalised to that range; pile-up and showers beyond it do not
    pull the MPV. Returns ``{"mpv", "scale", "mpv_error", "n"}`` or None (too few entries, fit
    not converged).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < min_entries:
        return None
    med = float(np.median(v))
    scale0 = max(MAD_TO_SIGMA * float(np.median(np.abs(v - med))) / 1.8, 1e-9)
    mpv0 = med - MOYAL_MEDIAN_OFFSET * scale0
    lo, hi = mpv0 - 2.5 * scale0, mpv0 + 6.0 * scale0
    x = v[(v > lo) & (v < hi)]
    if len(x) < min_entries:
        return None

    def nll_logpdf(xx, mpv, scale):
        norm = _moyal_cdf(hi, mpv, scale) - _moyal_cdf(lo, mpv, scale)
        return _moyal_logpdf(xx, mpv, scale) - np.log(max(norm, 1e-300))

    # log=True: the log-pdf summed directly (no exp/log round trip, and iminuit's numba
    # pdf-sum kernel is not compiled on a fresh install)
    m = Minuit(UnbinnedNLL(x, nll_logpdf, log=True), mpv=mpv0, scale=scale0)
    m.limits["scale"] = (scale0 / 10, scale0 * 10)
    m.limits["mpv"] = (lo, hi)
    m.migrad()
    if not m.valid:
        return None
    m.hesse()
    return {
        "mpv": float(m.values["mpv"]),
        "scale": float(m.values["scale"]),
        "mpv_error": float(m.errors["mpv"]),
        "n": len(x),
    }


def fit_drift_window(times: np.ndarray, sigma_guess: float, min_entries: int = 200) -> dict | None:
    """Edges of the straw drift-time box: least-squares fit of the hit-time histogram.

    Model: flat background + a box [lo, hi] smeared by a Gaussian of width sigma + a Gaussian
    spike at ``hi`` (tracks near the tube wall also fire the neighbour tube at the maximal drift
    time). Returns ``{"lo", "hi", "sigma", "lo_error", "hi_error", "n"}`` or None.
    """
    t = np.asarray(times, dtype=float)
    t = t[np.isfinite(t)]
    if len(t) < min_entries:
        return None
    q10, q90 = np.percentile(t, [10, 90])
    lo0, hi0 = float(q10), float(q90)
    rng_lo, rng_hi = lo0 - 60 - 4 * sigma_guess, hi0 + 60 + 4 * sigma_guess
    step = max(sigma_guess / 4, 0.5)
    edges = np.arange(rng_lo, rng_hi + step, step)
    counts, edges = np.histogram(t, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]

    def model(x, bkg, n_box, n_spike, lo, hi, sigma):
        box = (special.ndtr((x - lo) / sigma) - special.ndtr((x - hi) / sigma)) / max(hi - lo, 1)
        spike = np.exp(-0.5 * ((x - hi) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
        return width * (bkg + n_box * box + n_spike * spike)

    err = np.sqrt(np.maximum(counts, 1.0))
    n0 = float(counts.sum())
    m = Minuit(
        LeastSquares(centres, counts, err, model),
        bkg=0.0,
        n_box=0.9 * n0,
        n_spike=0.05 * n0,
        lo=lo0,
        hi=hi0,
        sigma=sigma_guess,
    )
    m.limits["bkg"] = (0, None)
    m.limits["n_box"] = (0, None)
    m.limits["n_spike"] = (0, None)
    m.limits["sigma"] = (0.1 * sigma_guess, 5 * sigma_guess)
    m.migrad()
    if not m.valid or not m.values["hi"] > m.values["lo"]:
        return None
    m.hesse()
    return {
        "lo": float(m.values["lo"]),
        "hi": float(m.values["hi"]),
        "sigma": float(m.values["sigma"]),
        "lo_error": float(m.errors["lo"]),
        "hi_error": float(m.errors["hi"]),
        "n": len(t),
    }
