"""Upper limits on mu (the total number of signal events) and expected bands.

``upper_limit`` solves CLs(mu) = 1 - cl with the calculator of ``method`` (``auto``: exact
without uncertainties, else hybrid); ``expected_limits`` enumerates the background-only count
patterns with their exact Poisson probabilities at the nominal backgrounds, computes the limit
for each and returns the weighted quantiles (2.3 %, 15.9 %, 50 %, 84.1 %, 97.7 %) of that
discrete distribution. Results are cached per (hashable, rounded) configuration.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, stats

from na64reco.limits.calculators import (
    cls_exact,
    cls_hybrid,
    cls_toys,
    patterns,
    poisson_upper_limit,
)
from na64reco.limits.counting import (
    BAND_KEYS,
    BAND_PROBS,
    CL,
    DEFAULT_SEED,
    DEFAULT_TOYS,
    METHODS,
    CountingModel,
)
from na64reco.limits.pyhf_bridge import asymptotic_expected, asymptotic_upper_limit

__all__ = ["expected_limits", "limit_summary", "resolve_method", "upper_limit"]


def _solve(func, guess: float, xtol: float = 1e-5) -> float:
    lo, hi = 0.3 * guess, 2.0 * guess
    flo, fhi = func(lo), func(hi)
    while flo < 0 and lo > 1e-6:
        lo *= 0.3
        flo = func(lo)
    while fhi > 0:
        hi *= 2.0
        if hi > 1e6:
            raise RuntimeError("no CLs crossing below 1e6 signal events")
        fhi = func(hi)
    return float(optimize.brentq(func, lo, hi, xtol=xtol * guess, rtol=1e-6))


def resolve_method(model: CountingModel, method: str = "auto") -> str:
    if method == "auto":
        return "hybrid" if model.has_uncertainties else "exact"
    if method not in METHODS:
        raise ValueError(f"method must be auto or one of {METHODS}, not {method!r}")
    return method


def upper_limit(
    model: CountingModel,
    observed,
    method: str = "auto",
    cl: float = CL,
    ntoys: int = DEFAULT_TOYS,
    seed: int = DEFAULT_SEED,
) -> float:
    """90% CL (``cl``) CLs upper limit on mu, the total number of signal events."""
    obs = tuple(int(v) for v in observed)
    if len(obs) != model.nbins:
        raise ValueError(f"{len(obs)} observed counts for {model.nbins} periods")
    method = resolve_method(model, method)
    return _upper_limit_cached(model, obs, method, cl, ntoys, seed)


@lru_cache(maxsize=4096)
def _upper_limit_cached(model, obs, method, cl, ntoys, seed) -> float:
    alpha = 1.0 - cl
    guess = poisson_upper_limit(sum(obs), sum(model.background), cl)
    if method == "exact":
        return _solve(lambda mu: cls_exact(model, mu, obs) - alpha, guess)
    if method == "toys":
        return _solve(lambda mu: cls_toys(model, mu, obs, ntoys, seed)[0] - alpha, guess, xtol=1e-4)
    if method == "hybrid":
        # Sobol points, a power of 2: 1024 for 2000 toys (nuisance average to ~1e-3 of CLs)
        nsamp = 1 << int(np.ceil(np.log2(max(ntoys, 64) / 2)))
        return _solve(lambda mu: cls_hybrid(model, mu, obs, nsamp, seed) - alpha, guess)
    return asymptotic_upper_limit(model, obs, cl)


def expected_limits(
    model: CountingModel,
    method: str = "auto",
    cl: float = CL,
    ntoys: int = DEFAULT_TOYS,
    seed: int = DEFAULT_SEED,
    coverage: float = 0.995,
) -> dict[str, float]:
    """Median and +-1, +-2 sigma expected limits on mu under the background-only hypothesis:
    weighted quantiles of the limits of the count patterns (exact Poisson probabilities at the
    nominal backgrounds), patterns taken in decreasing probability up to ``coverage``."""
    method = resolve_method(model, method)
    return dict(_expected_cached(model, method, cl, ntoys, seed, coverage))


@lru_cache(maxsize=1024)
def _expected_cached(model, method, cl, ntoys, seed, coverage):
    b = np.asarray(model.background)
    if method == "asymptotic":
        return tuple(zip(BAND_KEYS, asymptotic_expected(model, cl), strict=True))
    pats = patterns(b, tail=1e-6)
    prob = np.exp(stats.poisson.logpmf(pats, b).sum(axis=1))
    order = np.argsort(-prob, kind="stable")
    cum = np.cumsum(prob[order])
    keep = order[: int(np.searchsorted(cum, coverage)) + 1]
    lims = np.array(
        [upper_limit(model, pats[k].astype(int), method, cl, ntoys, seed) for k in keep]
    )
    p = prob[keep]
    srt = np.argsort(lims, kind="stable")
    cdf = np.cumsum(p[srt]) / prob.sum()
    out = []
    for key, q in zip(BAND_KEYS, BAND_PROBS, strict=True):
        i = min(int(np.searchsorted(cdf, q - 1e-12)), len(srt) - 1)
        out.append((key, float(lims[srt][i])))
    return tuple(out)


def limit_summary(
    model: CountingModel,
    observed=None,
    method: str = "auto",
    cl: float = CL,
    ntoys: int = DEFAULT_TOYS,
    seed: int = DEFAULT_SEED,
) -> dict:
    """{"expected": band on mu, "observed": mu limit or None, "method": ...}."""
    method = resolve_method(model, method)
    out = {
        "method": method,
        "cl": cl,
        "expected": expected_limits(model, method, cl, ntoys, seed),
        "observed": None,
    }
    if observed is not None:
        out["observed"] = upper_limit(model, observed, method, cl, ntoys, seed)
    if method == "toys":
        out["ntoys"] = ntoys
        out["seed"] = seed
    return out
