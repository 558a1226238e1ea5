"""The NA64 counting model: one bin per run period, signal strength mu = total signal events.

Period ``i`` receives the fraction ``a_i = EOT_i eff_i / sum_j EOT_j eff_j`` of ``mu`` (paper 000
eq. 11). Nuisance parameters (the parameter vector is [mu, t_1..t_n, t_c, g_1..g_n, h_1..h_K]):

- the signal of period ``i``: log-normal factor ``(1 + sigma_i)^t_i``, ``t_i ~ N(0, 1)``
  (efficiency and EOT uncertainties of that period, uncorrelated between periods);
- a common signal factor ``(1 + sigma_c)^t_c`` (the yield uncertainty of the papers);
- the background of period ``i``: ``"gamma"`` (Poisson auxiliary measurement with
  ``tau = (b / sigma_b)^2``, pyhf ``shapesys``) or ``"lognormal"`` (``(1 + sigma_b/b)^g_i``, pyhf
  ``normsys`` with ``lo = 1/hi``);
- named nuisances ``h_k ~ N(0, 1)`` (limit_inputs v2, ``NamedNuisance``), one parameter for
  every period that lists the name (correlated): the signal and the background of period ``i``
  are multiplied by ``hi_ik^h`` for ``h >= 0`` and ``lo_ik^-h`` for ``h < 0`` (pyhf ``normsys``
  with interpolation code 1, pyhf 0.7's default: piecewise exponential, exact at +-1 sigma).

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
    "RESERVED_NAMES",
    "CountingModel",
    "NamedNuisance",
    "reserved_names",
]

#: parameter names of the legacy uncertainties in the pyhf model (a named nuisance may not take
#: them): mu, sig_common and, per period (``reserved_names``), sig_<period> and bkg_<period>
RESERVED_NAMES = ("mu", "sig_common")


def reserved_names(periods) -> set[str]:
    """The pyhf parameter names of the flat uncertainties of these periods (and mu)."""
    return {*RESERVED_NAMES, *(f"{k}_{p}" for p in periods for k in ("sig", "bkg"))}


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
class NamedNuisance:
    """One named nuisance: per period the up and down factors on signal and background (1: no
    effect), applied as pyhf normsys code 1 (module docstring)."""

    name: str
    signal_up: tuple[float, ...]
    signal_down: tuple[float, ...]
    background_up: tuple[float, ...]
    background_down: tuple[float, ...]

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, k)) for k in _FACTORS}
        if len(lengths) != 1:
            raise ValueError(f"nuisance {self.name!r}: one factor per period in every list")
        for k in _FACTORS:
            vals = tuple(float(v) for v in getattr(self, k))
            if not all(math.isfinite(v) and v > 0 for v in vals):
                raise ValueError(f"nuisance {self.name!r}: {k} factors must be finite and > 0")
            object.__setattr__(self, k, vals)

    def coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Exponent slopes (signal h>=0, signal h<0, background h>=0, background h<0):
        ln factor = h * slope, ``ln hi`` above 0 and ``-ln lo`` below."""
        return (
            np.log(self.signal_up),
            -np.log(self.signal_down),
            np.log(self.background_up),
            -np.log(self.background_down),
        )

    def rounded(self, step: float) -> NamedNuisance:
        """The factors with their logarithms rounded to ``step`` (for caching limits)."""
        vals = [
            tuple(math.exp(_round(math.log(v), step)) for v in getattr(self, k)) for k in _FACTORS
        ]
        return NamedNuisance(self.name, *vals)


_FACTORS = ("signal_up", "signal_down", "background_up", "background_down")


@dataclass(frozen=True)
class CountingModel:
    """One bin per period: signal ``mu * signal_fraction[i]`` over ``background[i]``.

    ``signal_unc`` is relative per period (uncorrelated), ``signal_corr_unc`` relative and common
    to all periods, ``background_unc`` absolute per period (stat and syst in quadrature);
    ``nuisances`` the named ones (``NamedNuisance``, names unique).
    """

    signal_fraction: tuple[float, ...]
    background: tuple[float, ...]
    background_unc: tuple[float, ...] = ()
    signal_unc: tuple[float, ...] = ()
    signal_corr_unc: float = 0.0
    background_constraint: str = "gamma"
    names: tuple[str, ...] = field(default=(), compare=False)
    nuisances: tuple[NamedNuisance, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.background)
        object.__setattr__(self, "nuisances", tuple(self.nuisances))
        labels = [h.name for h in self.nuisances]
        if len(set(labels)) != len(labels):
            raise ValueError(f"nuisance names must be unique: {labels}")
        periods = [self.names[i] if i < len(self.names) else f"p{i}" for i in range(n)]
        reserved = [x for x in labels if x in reserved_names(periods)]
        if reserved:
            raise ValueError(f"nuisance names {reserved} are taken by the legacy uncertainties")
        if any(len(h.signal_up) != n for h in self.nuisances):
            raise ValueError("every named nuisance needs one factor per period")
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
        return (
            any(self.background_unc)
            or any(self.signal_unc)
            or self.signal_corr_unc > 0
            or bool(self.nuisances)
        )

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
            tuple(h.rounded(rel_step) for h in self.nuisances),
        )

    # -- parameters: [mu, t_1..t_n, t_c, g_1..g_n, h_1..h_K] --------------------------------------
    @property
    def npar(self) -> int:
        return 2 * self.nbins + 2 + len(self.nuisances)

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
        free[2 + n : 2 + 2 * n] = has_b
        tau = np.where(has_b, (b / np.where(bu > 0, bu, 1.0)) ** 2, 0.0)
        gidx = 2 + n + np.arange(n)
        if self.background_constraint == "gamma":
            D[np.arange(n), gidx] = 1.0
        else:
            D[np.arange(n), gidx] = np.log1p(np.where(b > 0, bu / np.where(b > 0, b, 1), 0.0))
        D[~has_b, :] = 0.0
        for k, h in enumerate(self.nuisances):
            cs, cs_dn, cb, cb_dn = h.coefficients()
            C[:, 2 + 2 * n + k] = cs
            D[:, 2 + 2 * n + k] = np.where(b > 0, cb, 0.0)
            free[2 + 2 * n + k] = bool(
                np.any(cs != 0)
                or np.any(cs_dn != 0)
                or np.any((b > 0) & ((cb != 0) | (cb_dn != 0)))
            )
        return a, b, C, D, free, tau, has_b

    def down_slopes(self) -> tuple[np.ndarray, np.ndarray]:
        """(C, D) of ``_layout`` with the named nuisances' slopes below 0 (code 1: -ln lo)."""
        _, b, C, D, *_ = self._layout()
        n = self.nbins
        for k, h in enumerate(self.nuisances):
            _, cs, _, cb = h.coefficients()
            C[:, 2 + 2 * n + k] = cs
            D[:, 2 + 2 * n + k] = np.where(b > 0, cb, 0.0)
        return C, D

    def nominal_aux(self) -> np.ndarray:
        """Auxiliary data: Gaussian centres for t (0), gamma counts tau for g (or 0: lognormal)."""
        n = self.nbins
        _, _, _, _, _, tau, has_b = self._layout()
        aux = np.zeros(self.npar)
        if self.background_constraint == "gamma":
            aux[2 + n : 2 + 2 * n] = np.where(has_b, tau, 0.0)
        return aux
