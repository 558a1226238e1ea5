"""CLs upper limits at 90% CL for the NA64-e counting experiment (one bin per run period).

The limit is set on the signal strength ``mu`` = the total number of expected signal events in
the signal box summed over periods at the nominal exposure and efficiency; period ``i`` receives
the fraction ``a_i = EOT_i eff_i / sum_j EOT_j eff_j`` of it (paper 000 eq. 11). A limit on ``mu``
(``N_up``) is model independent: a model turns it into a coupling through
``coupling_from_signal_limit(N_up, sum_i EOT_i eff_i, mass)`` (``na64reco.limits.scan``).

Three ways to get the limit (``method``):

* ``"exact"`` (the fast path, used when every uncertainty is zero): the modified frequentist
  CLs of Read/Junk (the CLs reference of paper 002) with the likelihood ratio
  ``Q = sum_i n_i ln(1 + s_i / b_i)`` as test statistic; its distribution is summed exactly over
  the count patterns. For one bin ``CLs = P(N <= n | s+b) / P(N <= n | b)`` (Poisson CDF);
  for 0 observed events ``CLs = exp(-s)`` and ``N_up = ln 10 = 2.3026`` whatever the background.
* ``"toys"`` (default when there are uncertainties): the LHC CLs with the one-sided profile
  likelihood ratio ``q~_mu`` (``mu_hat`` bounded at 0, ``q = 0`` for ``mu_hat > mu``), nuisance
  parameters profiled, pseudo-experiments thrown at the conditional fits to the data with the
  auxiliary measurements resampled (the pyhf ToyCalculator convention). Nuisances:

  - the signal of period ``i``: log-normal factor ``(1 + sigma_i)^t_i``, ``t_i ~ N(0, 1)``, with
    ``sigma_i`` the quadrature sum of the relative efficiency (stat and syst) and EOT (stat and
    syst) uncertainties of that period (uncorrelated between periods);
  - optionally a common signal factor ``(1 + sigma_c)^t_c`` (e.g. the 15% yield uncertainty of
    paper 001, the 10-19% of papers 000 and 002), fully correlated between periods;
  - the background of period ``i``: ``"gamma"`` (default; Poisson auxiliary measurement with
    ``tau = (b/sigma_b)^2``, the pyhf ``shapesys`` constraint) or ``"lognormal"``
    (``(1 + sigma_b/b)^g_i``, ``g_i ~ N(0, 1)``, the pyhf ``normsys`` with ``lo = 1/hi``).

  The fits are a vectorised (over toys) modified-Newton minimiser written here in numpy; they
  agree with ``pyhf.infer.mle`` fits of the same model (``pyhf_model``) to ~1e-6 in q.
  pyhf's own ToyCalculator still works for p-values in pyhf 0.7.6 with numpy 2.4, but its
  ``expected_pvalues`` does not (``numpy.percentile(interpolation=...)`` was removed), and it is
  ~1000x slower; it is used only in the tests as a cross-check.
* ``"asymptotic"``: pyhf's asymptotic calculator (``toms748_scan`` with ``level=0.1``; note that
  ``upper_limit(scan=None)`` ignores ``level`` in pyhf 0.7.6). A cross-check only: it is badly
  wrong at small counts (~1.6 instead of 2.3 at 0 observed).

Expected limits (while blinded): the background-only count patterns ``n`` are enumerated with
their exact Poisson probabilities at the nominal backgrounds, the limit is computed for each, and
the band is the weighted quantiles (2.3%, 15.9%, 50%, 84.1%, 97.7%) of that discrete
distribution: for small backgrounds this is exact and cheap (a handful of patterns).

Limits are cached per configuration (``CountingModel`` is hashable and rounded).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize, stats
from scipy.special import gammaln, xlogy

CL = 0.90
ALPHA = 1.0 - CL
BAND_KEYS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")
BAND_PROBS = tuple(float(stats.norm.cdf(z)) for z in (-2, -1, 0, 1, 2))
DEFAULT_TOYS = 2000
METHODS = ("exact", "hybrid", "toys", "asymptotic")
DEFAULT_SEED = 20170101
_G_MIN, _G_MAX = -30.0, 10.0  # bounds of the log background factor (gamma constraint)


# ------------------------------------------------------------------------------------------------
# single bin, exact
# ------------------------------------------------------------------------------------------------
def cls_poisson(s: float, n: int, b: float) -> float:
    """Exact CLs of signal mean ``s`` for ``n`` observed over a known background ``b``."""
    return float(stats.poisson.cdf(n, s + b) / stats.poisson.cdf(n, b))


def poisson_upper_limit(n: int, b: float = 0.0, cl: float = CL) -> float:
    """Exact CLs upper limit on the signal mean (one bin, known background): CLs(s) = 1 - cl."""
    if n < 0 or b < 0:
        raise ValueError(f"need n >= 0 and b >= 0, got n={n}, b={b}")
    alpha = 1.0 - cl
    hi = max(10.0, 3.0 * (n + 5.0 * math.sqrt(n + 1.0)))
    return float(optimize.brentq(lambda s: cls_poisson(s, n, b) - alpha, 0.0, hi, xtol=1e-10))


def poisson_expected_limits(b: float, cl: float = CL) -> dict[str, float]:
    """Expected limit band for one bin: the limits at the quantiles of n ~ Poisson(b)."""
    out = {}
    for key, p in zip(BAND_KEYS, BAND_PROBS, strict=True):
        n = int(stats.poisson.ppf(p, b)) if b > 0 else 0
        out[key] = poisson_upper_limit(n, b, cl)
    return out


# ------------------------------------------------------------------------------------------------
# multibin counting model
# ------------------------------------------------------------------------------------------------
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


class _Fitter:
    """Vectorised NLL minimiser of a CountingModel over a batch of data sets."""

    def __init__(self, model: CountingModel):
        self.m = model
        self.a, self.b, self.C, self.D, self.free, self.tau, self.has_b = model._layout()
        n = model.nbins
        self.gauss = np.zeros(model.npar, bool)
        self.gauss[1 : 2 + n] = self.free[1 : 2 + n]
        self.gamma = np.zeros(model.npar, bool)
        if model.background_constraint == "gamma":
            self.gamma[2 + n :] = self.free[2 + n :]
        else:
            self.gauss[2 + n :] = self.free[2 + n :]
        self.taus = np.zeros(model.npar)
        self.taus[2 + n :] = self.tau

    def rates(self, x):
        E = np.exp(np.clip(x @ self.C.T, -700.0, 700.0))  # (T, n)
        S = x[:, :1] * self.a * E
        B = self.b * np.exp(np.clip(x @ self.D.T, -700.0, 700.0))
        return S, B, E

    def nll(self, x, n, aux):
        S, B, _ = self.rates(x)
        nu = np.maximum(S + B, 1e-300)
        f = np.sum(nu - xlogy(n, nu) + gammaln(n + 1.0), axis=1)
        g = self.gauss
        f += 0.5 * np.sum(((x - aux) ** 2)[:, g], axis=1)
        if self.gamma.any():
            te = (self.taus * np.exp(x))[:, self.gamma]
            ax = aux[:, self.gamma]
            f += np.sum(te - xlogy(ax, te) + gammaln(ax + 1.0), axis=1)
        return f

    def grad_hess(self, x, n, aux):
        S, B, E = self.rates(x)
        nu = np.maximum(S + B, 1e-300)
        w = 1.0 - n / nu  # (T, n)
        v = n / nu**2
        aE = self.a * E  # dS/dmu
        # J[t, i, p] = dnu_i/dx_p
        J = S[:, :, None] * self.C[None] + B[:, :, None] * self.D[None]
        J[:, :, 0] = aE
        grad = np.einsum("ti,tip->tp", w, J)
        # second derivatives of nu
        K = S[:, :, None, None] * (self.C[:, :, None] * self.C[:, None, :])[None]
        K += B[:, :, None, None] * (self.D[:, :, None] * self.D[:, None, :])[None]
        cross = aE[:, :, None] * self.C[None]  # d2S/dmu dx_p
        K[:, :, 0, :] += cross
        K[:, :, :, 0] += cross
        K[:, :, 0, 0] = 0.0
        H = np.einsum("ti,tip,tiq->tpq", v, J, J) + np.einsum("ti,tipq->tpq", w, K)
        g = self.gauss
        grad[:, g] += (x - aux)[:, g]
        idx = np.flatnonzero(g)
        H[:, idx, idx] += 1.0
        if self.gamma.any():
            te = self.taus * np.exp(x)
            gi = np.flatnonzero(self.gamma)
            grad[:, gi] += (te - aux)[:, gi]
            H[:, gi, gi] += te[:, gi]
        return grad, H

    def fit(self, n, aux, mu=None, x0=None, maxiter=80):
        """Minimise over the nuisances (mu fixed: array or scalar) or over everything (mu=None,
        mu >= 0). Returns (x, nll)."""
        T = n.shape[0]
        P = self.m.npar
        if x0 is None:
            x = np.zeros((T, P))
            x[:] = np.where(self.gauss, aux, 0.0)
            if self.gamma.any():
                taus = np.where(self.taus > 0, self.taus, 1.0)
                g0 = np.log(np.maximum(aux, 0.5) / taus)
                x[:, self.gamma] = np.clip(g0, _G_MIN, _G_MAX)[:, self.gamma]
        else:
            x = x0.copy()
        free0 = np.broadcast_to(self.free, (T, P)).copy()
        if mu is not None:
            x[:, 0] = mu
            free0[:, 0] = False
        elif x0 is None:
            x[:, 0] = np.maximum((n - self.b).sum(axis=1), 0.0) + 0.1
        f = self.nll(x, n, aux)
        eye = np.eye(P)
        act = np.arange(T)  # toys still iterating
        for _ in range(maxiter):
            xa, na, aa, fa = x[act], n[act], aux[act], f[act]
            grad, H = self.grad_hess(xa, na, aa)
            fr = free0[act]
            if mu is None:  # mu at its bound with the gradient pushing down: hold it
                fr[:, 0] &= ~((xa[:, 0] <= 0.0) & (grad[:, 0] > 0))
            if self.gamma.any():  # log background at its floor, gradient pushing down
                fr &= ~((xa <= _G_MIN) & (grad > 0) & self.gamma)
            grad = np.where(fr, grad, 0.0)
            H = np.where(fr[:, :, None] & fr[:, None, :], H, 0.0) + eye * (~fr)[:, :, None]
            ev = np.linalg.eigvalsh(H)[:, 0]
            shift = np.maximum(0.0, 1e-9 - ev)[:, None, None] * 1.01
            step = np.linalg.solve(H + shift * eye, grad[:, :, None])[:, :, 0]
            big = np.abs(step).max(axis=1)
            step *= np.minimum(1.0, 3.0 / np.maximum(big, 1e-300))[:, None]  # trust region
            dec = np.einsum("tp,tp->t", grad, step)
            conv = np.abs(dec) < 1e-11
            alpha = np.ones(len(act))
            done = conv.copy()
            for _ls in range(40):
                xn = xa - alpha[:, None] * step
                xn[:, 0] = np.maximum(xn[:, 0], 0.0)
                xn[:, self.gamma] = np.clip(xn[:, self.gamma], _G_MIN, _G_MAX)
                fn = self.nll(xn, na, aa)
                ok = (fn <= fa + 1e-13 * np.abs(fa)) & ~done
                xa[ok] = xn[ok]
                fa[ok] = fn[ok]
                done |= ok
                if done.all():
                    break
                alpha = np.where(done, alpha, alpha * 0.5)
            conv |= ~done  # no decrease possible: at the minimum to machine precision
            x[act] = xa
            f[act] = fa
            act = act[~conv]
            if act.size == 0:
                break
        return x, f


def _qtilde(fitter: _Fitter, mu: float, n, aux):
    xc, fc = fitter.fit(n, aux, mu=mu)
    xf, ff = fitter.fit(n, aux)
    q = 2.0 * (fc - ff)
    q = np.where(xf[:, 0] > mu, 0.0, np.maximum(q, 0.0))
    return q, xc


def _sample(fitter: _Fitter, x, ntoys: int, rng: np.random.Generator):
    """Pseudo-experiments (main counts and auxiliary data) at parameters x (one row)."""
    S, B, _ = fitter.rates(x[None, :])
    nu = (S + B)[0]
    n = rng.poisson(nu, size=(ntoys, nu.size)).astype(float)
    P = fitter.m.npar
    aux = np.zeros((ntoys, P))
    if fitter.gauss.any():
        aux[:, fitter.gauss] = x[fitter.gauss] + rng.standard_normal((ntoys, fitter.gauss.sum()))
    if fitter.gamma.any():
        lam = (fitter.taus * np.exp(x))[fitter.gamma]
        aux[:, fitter.gamma] = rng.poisson(lam, size=(ntoys, lam.size))
    return n, aux


def _as_data(model: CountingModel, observed, aux=None):
    n = np.asarray(observed, float).reshape(1, model.nbins)
    a = model.nominal_aux()[None, :] if aux is None else np.asarray(aux, float).reshape(1, -1)
    return n, a


def q_tilde(model: CountingModel, mu: float, observed, aux=None) -> float:
    """The one-sided profile likelihood ratio q~_mu of data ``observed`` (nominal aux data)."""
    n, a = _as_data(model, observed, aux)
    return float(_qtilde(_Fitter(model), mu, n, a)[0][0])


def fit(model: CountingModel, observed, mu: float | None = None, aux=None):
    """Best fit parameters [mu, t_1..t_n, t_c, g_1..g_n] and the NLL (mu fixed if given)."""
    n, a = _as_data(model, observed, aux)
    x, f = _Fitter(model).fit(n, a, mu=mu)
    return x[0], float(f[0])


def cls_toys(
    model: CountingModel, mu: float, observed, ntoys: int = DEFAULT_TOYS, seed: int = DEFAULT_SEED
) -> tuple[float, float, float]:
    """(CLs, CLs+b, CLb) from pseudo-experiments with the q~_mu test statistic."""
    fitter = _Fitter(model)
    n, a = _as_data(model, observed)
    qobs, xc = _qtilde(fitter, mu, n, a)
    qobs = float(qobs[0])
    xb, _ = fitter.fit(n, a, mu=0.0)
    rng = np.random.default_rng(seed)
    ns, as_ = _sample(fitter, xc[0], ntoys, rng)
    nb, ab = _sample(fitter, xb[0], ntoys, rng)
    qs, _ = _qtilde(fitter, mu, ns, as_)
    qb, _ = _qtilde(fitter, mu, nb, ab)
    tol = 1e-6 * (1.0 + qobs)  # ties (identical count patterns) count as "as extreme"
    clsb = float(np.mean(qs >= qobs - tol))
    clb = float(np.mean(qb >= qobs - tol))
    return (clsb / clb if clb > 0 else 1.0), clsb, clb


# ------------------------------------------------------------------------------------------------
# exact multibin CLs (no uncertainties)
# ------------------------------------------------------------------------------------------------
def _patterns(means: np.ndarray, tail: float = 1e-12) -> np.ndarray:
    nmax = [int(stats.poisson.isf(tail, m)) + 1 if m > 0 else 0 for m in means]
    return np.array(list(itertools.product(*[range(k + 1) for k in nmax])), float)


def cls_exact(model: CountingModel, mu: float, observed) -> float:
    """Exact CLs without uncertainties, test statistic Q = sum n_i ln(1 + s_i/b_i)."""
    obs = np.asarray(observed, float)
    s = mu * np.asarray(model.signal_fraction)
    b = np.asarray(model.background)
    if model.nbins == 1 or not obs.any():
        # one bin, or 0 observed: Q ordering = total-count ordering for the tail below n_obs
        if not obs.any():
            return float(math.exp(-mu))
        return cls_poisson(mu, int(obs.sum()), float(b.sum()))
    bb = np.maximum(b, 1e-300)
    w = np.log1p(s / bb)
    pats = _patterns(s + b)
    Q = pats @ w
    qobs = obs @ w + 1e-9 * (1 + abs(obs @ w))
    sel = qobs >= Q
    lsb = stats.poisson.logpmf(pats, s + b).sum(axis=1)
    lb = stats.poisson.logpmf(pats, b).sum(axis=1)
    return float(np.exp(lsb[sel]).sum() / np.exp(lb[sel]).sum())


def _nuisance_factors(model: CountingModel, nsamp: int, seed: int):
    """Samples of the signal and background factors from their constraint (prior) densities."""
    rng = np.random.default_rng(seed)
    n = model.nbins
    su = np.log1p(np.asarray(model.signal_unc))
    k = np.exp(
        su * rng.standard_normal((nsamp, n))
        + math.log1p(model.signal_corr_unc) * rng.standard_normal((nsamp, 1))
    )
    b = np.asarray(model.background)
    bu = np.asarray(model.background_unc)
    c = np.ones((nsamp, n))
    for i in range(n):
        if b[i] > 0 and bu[i] > 0:
            if model.background_constraint == "gamma":
                tau = (b[i] / bu[i]) ** 2
                c[:, i] = rng.gamma(tau, 1.0 / tau, nsamp)
            else:
                c[:, i] = (1.0 + bu[i] / b[i]) ** rng.standard_normal(nsamp)
    return k, c


def cls_hybrid(
    model: CountingModel, mu: float, observed, nsamp: int = 20000, seed: int = DEFAULT_SEED
) -> float:
    """Bayesian-frequentist hybrid (Cousins-Highland) CLs: the exact LEP CLs with the nominal
    likelihood ratio Q, the count probabilities averaged over the nuisance priors (log-normal
    signal factors, gamma or log-normal background factors). For 0 observed
    ``CLs = E[exp(-mu k)]``: background uncertainties drop out and N_up = 2.30 without signal
    uncertainties."""
    obs = np.asarray(observed, float)
    a = np.asarray(model.signal_fraction)
    b = np.asarray(model.background)
    k, c = _nuisance_factors(model, nsamp, seed)
    S = mu * a * k  # (K, n)
    B = b * c
    if not obs.any():
        pats = np.zeros((1, model.nbins))
    else:
        w = np.log1p(mu * a / np.maximum(b, 1e-300))
        pats = _patterns(
            mu * a * np.quantile(k, 0.9999, axis=0) + b * np.quantile(c, 0.9999, axis=0), tail=1e-9
        )
        Q = pats @ w
        pats = pats[obs @ w + 1e-9 * (1 + abs(obs @ w)) >= Q]
    # sum over patterns of the nuisance-averaged pattern probabilities
    lg = gammaln(pats + 1.0).sum(axis=1)  # (M,)
    num = den = 0.0
    for lo in range(0, pats.shape[0], 512):
        pp = pats[lo : lo + 512]
        lsb = (
            pp @ np.log(np.maximum(S + B, 1e-300)).T - (S + B).sum(axis=1) - lg[lo : lo + 512, None]
        )
        lb = pp @ np.log(np.maximum(B, 1e-300)).T - B.sum(axis=1) - lg[lo : lo + 512, None]
        num += np.exp(lsb).mean(axis=1).sum()
        den += np.exp(lb).mean(axis=1).sum()
    return float(num / den)


# ------------------------------------------------------------------------------------------------
# limits
# ------------------------------------------------------------------------------------------------
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
        return _solve(
            lambda mu: cls_toys(model, mu, obs, ntoys, seed)[0] - alpha, guess, xtol=0.003
        )
    if method == "hybrid":
        return _solve(lambda mu: cls_hybrid(model, mu, obs, 5 * ntoys, seed) - alpha, guess)
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
    pats = _patterns(b, tail=1e-6)
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


# ------------------------------------------------------------------------------------------------
# pyhf (cross-checks)
# ------------------------------------------------------------------------------------------------
def pyhf_model(model: CountingModel, poi_max: float = 100.0):
    """The same model in pyhf: one channel per period, ``mu`` a normfactor on a signal of
    ``a_i`` events, normsys per period (hi = 1 + sigma, lo = 1/hi), a shared normsys for the
    common signal uncertainty, shapesys (gamma) or normsys (log-normal) on the background.
    Returns (pyhf.Model, function observed -> data)."""
    import pyhf

    pyhf.set_backend("numpy")
    channels = []
    for i in range(model.nbins):
        name = model.names[i] if i < len(model.names) else f"p{i}"
        sig_mods = [{"name": "mu", "type": "normfactor", "data": None}]
        su = model.signal_unc[i]
        if su > 0:
            sig_mods.append(
                {
                    "name": f"sig_{name}",
                    "type": "normsys",
                    "data": {"hi": 1 + su, "lo": 1 / (1 + su)},
                }
            )
        if model.signal_corr_unc > 0:
            c = model.signal_corr_unc
            sig_mods.append(
                {"name": "sig_common", "type": "normsys", "data": {"hi": 1 + c, "lo": 1 / (1 + c)}}
            )
        b, bu = model.background[i], model.background_unc[i]
        bkg_mods = []
        if b > 0 and bu > 0:
            if model.background_constraint == "gamma":
                bkg_mods.append({"name": f"bkg_{name}", "type": "shapesys", "data": [bu]})
            else:
                r = 1 + bu / b
                bkg_mods.append(
                    {"name": f"bkg_{name}", "type": "normsys", "data": {"hi": r, "lo": 1 / r}}
                )
        channels.append(
            {
                "name": name,
                "samples": [
                    {"name": "signal", "data": [model.signal_fraction[i]], "modifiers": sig_mods},
                    {"name": "background", "data": [max(b, 1e-9)], "modifiers": bkg_mods},
                ],
            }
        )
    spec = {"channels": channels, "parameters": [{"name": "mu", "bounds": [[0.0, poi_max]]}]}
    pmodel = pyhf.Model(spec, poi_name="mu")
    order = [c["name"] for c in channels]

    def data(observed):
        # pyhf orders channels alphabetically
        obs = dict(zip(order, observed, strict=True))
        return [float(obs[c]) for c in pmodel.config.channels] + list(pmodel.config.auxdata)

    return pmodel, data


def _asymptotic(model: CountingModel, observed, cl: float):
    import pyhf

    guess = poisson_upper_limit(int(sum(observed)), sum(model.background), cl)
    pmodel, data = pyhf_model(model, poi_max=40.0 * guess + 20.0)
    obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(
        data(observed),
        pmodel,
        0.0,
        20.0 * guess + 10.0,
        level=1.0 - cl,
        test_stat="qtilde",
        calctype="asymptotics",
    )
    return float(obs), [float(e) for e in exp]


def asymptotic_upper_limit(model: CountingModel, observed, cl: float = CL) -> float:
    """pyhf asymptotic CLs limit on mu (cross-check; wrong at small counts)."""
    return _asymptotic(model, observed, cl)[0]


def asymptotic_expected(model: CountingModel, cl: float = CL) -> list[float]:
    """pyhf asymptotic expected band (-2..+2 sigma) with the observed set to the background."""
    return _asymptotic(model, [round(b) for b in model.background], cl)[1]


__all__ = [
    "ALPHA",
    "BAND_KEYS",
    "CL",
    "METHODS",
    "CountingModel",
    "asymptotic_expected",
    "asymptotic_upper_limit",
    "cls_exact",
    "cls_hybrid",
    "cls_poisson",
    "cls_toys",
    "expected_limits",
    "fit",
    "limit_summary",
    "poisson_expected_limits",
    "poisson_upper_limit",
    "pyhf_model",
    "q_tilde",
    "resolve_method",
    "upper_limit",
]
