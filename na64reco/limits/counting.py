"""The NA64 counting model: one bin per run period, signal strength mu = total signal events.

Period ``i`` receives the fraction ``a_i = EOT_i eff_i / sum_j EOT_j eff_j`` of ``mu`` (paper 000
eq. 11). Nuisance parameters (the parameter vector is [mu, t_1..t_n, t_c, g_1..g_n]):

- the signal of period ``i``: log-normal factor ``(1 + sigma_i)^t_i``, ``t_i ~ N(0, 1)``
  (efficiency and EOT uncertainties of that period, uncorrelated between periods);
- a common signal factor ``(1 + sigma_c)^t_c`` (the yield uncertainty of the papers);
- the background of period ``i``: ``"gamma"`` (Poisson auxiliary measurement with
  ``tau = (b / sigma_b)^2``, pyhf ``shapesys``) or ``"lognormal"`` (``(1 + sigma_b/b)^g_i``, pyhf
  ``normsys`` with ``lo = 1/hi``).

``CountingModel`` is hashable (frozen) and ``rounded()`` gives a nearby model for caching limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = [
    "ALPHA",
    "BAND_KEYS",
    "BAND_PROBS",
    "CL",
    "DEFAULT_SEED",
    "DEFAULT_TOYS",
    "METHODS",
    "CountingModel",
]

CL = 0.90
ALPHA = 1.0 - CL
BAND_KEYS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")
BAND_PROBS = tuple(float(stats.norm.cdf(z)) for z in (-2, -1, 0, 1, 2))
DEFAULT_TOYS = 2000
METHODS = ("exact", "hybrid", "toys", "asymptotic")
DEFAULT_SEED = 20170101


def _round(x: float, step: float) -> float:
    return float(round(x / step) * step) if step else float(x)


@dataclass(frozen=True)
class CountingModel:
    """One bin per period: signal ``mu * signal_fraction[i]`` over ``background[i]``.

    ``signal_unc`` is relative per period (uncorrelated), ``signal_corr_unc`` relative and common
    to all periods, ``background_unc`` absolute per period (stat and syst in quadrature).
    """

    signal_fraction: tuple[float, ...]
    background: tuple[float, ...]
    background_unc: tuple[float, ...] = ()
    signal_unc: tuple[float, ...] = ()
    signal_corr_unc: float = 0.0
    background_constraint: str = "gamma"
    names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        n = len(self.background)
        a = np.asarray(self.signal_fraction, float)
        if len(a) != n or n == 0:
            raise ValueError("signal_fraction and background need one entry per period")
        if np.any(a < 0) or a.sum() <= 0:
            raise ValueError(f"signal fractions must be >= 0 with a positive sum: {tuple(a)}")
        if self.background_constraint not in ("gamma", "lognormal"):
            raise ValueError(
                f"background_constraint: 'gamma' or 'lognormal', not {self.background_constraint!r}"
            )
        for name in ("background_unc", "signal_unc"):
            val = getattr(self, name) or (0.0,) * n
            if len(val) != n:
                raise ValueError(f"{name} needs one entry per period")
            object.__setattr__(self, name, tuple(float(v) for v in val))
        object.__setattr__(self, "signal_fraction", tuple(float(v) for v in a / a.sum()))
        object.__setattr__(self, "background", tuple(float(v) for v in self.background))
        if any(v < 0 for v in self.background + self.background_unc + self.signal_unc):
            raise ValueError("backgrounds and uncertainties must be >= 0")
        if self.signal_corr_unc < 0:
            raise ValueError("signal_corr_unc must be >= 0")

    @property
    def nbins(self) -> int:
        return len(self.background)

    @property
    def has_uncertainties(self) -> bool:
        return any(self.background_unc) or any(self.signal_unc) or self.signal_corr_unc > 0

    def rounded(self, frac_step: float = 0.01, rel_step: float = 0.005) -> CountingModel:
        """A nearby model for caching: fractions to ``frac_step``, relative uncertainties to
        ``rel_step`` (the limit on mu moves by far less than the toy MC error)."""
        a = [_round(x, frac_step) for x in self.signal_fraction]
        if sum(a) <= 0:
            a = list(self.signal_fraction)
        bunc = tuple(
            _round(u / b, rel_step) * b if b > 0 else u
            for u, b in zip(self.background_unc, self.background, strict=True)
        )
        return CountingModel(
            tuple(a),
            tuple(_round(b, 1e-4) for b in self.background),
            bunc,
            tuple(_round(u, rel_step) for u in self.signal_unc),
            _round(self.signal_corr_unc, rel_step),
            self.background_constraint,
            self.names,
        )

    # -- parameters: [mu, t_1..t_n, t_c, g_1..g_n] ------------------------------------------------
    @property
    def npar(self) -> int:
        return 2 * self.nbins + 2

    def _layout(self):
        n = self.nbins
        a = np.asarray(self.signal_fraction)
        b = np.asarray(self.background)
        P = self.npar
        C = np.zeros((n, P))  # signal exponent coefficients
        D = np.zeros((n, P))  # background exponent coefficients
        su = np.asarray(self.signal_unc)
        C[np.arange(n), 1 + np.arange(n)] = np.log1p(su)
        C[:, 1 + n] = math.log1p(self.signal_corr_unc)
        free = np.zeros(P, bool)
        free[0] = True
        free[1 : 1 + n] = su > 0
        free[1 + n] = self.signal_corr_unc > 0
        bu = np.asarray(self.background_unc)
        has_b = (bu > 0) & (b > 0)
        free[2 + n :] = has_b
        tau = np.where(has_b, (b / np.where(bu > 0, bu, 1.0)) ** 2, 0.0)
        gidx = 2 + n + np.arange(n)
        if self.background_constraint == "gamma":
            D[np.arange(n), gidx] = 1.0
        else:
            D[np.arange(n), gidx] = np.log1p(np.where(b > 0, bu / np.where(b > 0, b, 1), 0.0))
        D[~has_b, :] = 0.0
        return a, b, C, D, free, tau, has_b

    def nominal_aux(self) -> np.ndarray:
        """Auxiliary data: Gaussian centres for t (0), gamma counts tau for g (or 0: lognormal)."""
        n = self.nbins
        _, _, _, _, _, tau, has_b = self._layout()
        aux = np.zeros(self.npar)
        if self.background_constraint == "gamma":
            aux[2 + n :] = np.where(has_b, tau, 0.0)
        return aux
