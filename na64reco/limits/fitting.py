"""Maximum-likelihood fits of a CountingModel, vectorised over a batch of data sets.

A modified-Newton minimiser written in numpy (analytic gradient and Hessian, eigenvalue shift,
trust region, backtracking line search, bounds mu >= 0 and the log background factor in
[-30, 10]). The named nuisances' exponents are piecewise linear (pyhf normsys code 1: slope
``ln hi`` above 0, ``-ln lo`` below), so the slopes are chosen per data set by the sign of the
parameter; with symmetric factors (or none) the one slope matrix of before is used.
It agrees with ``pyhf.infer.mle`` fits of the same model (limits.pyhf_bridge) to
~1e-6 in the test statistic (tests) and is ~1000 x faster for the thousands of pseudo-data sets of
the toy calculator.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from na64reco.limits.counting import CountingModel

__all__ = ["Fitter", "as_data", "fit"]

_G_MIN, _G_MAX = -30.0, 10.0  # bounds of the log background factor (gamma constraint)


class Fitter:
    """Vectorised NLL minimiser of a CountingModel over a batch of data sets."""

    def __init__(self, model: CountingModel):
        self.m = model
        self.a, self.b, self.C, self.D, self.free, self.tau, self.has_b = model._layout()
        n = model.nbins
        g = slice(2 + n, 2 + 2 * n)  # the background parameters g_i
        self.gauss = np.zeros(model.npar, bool)
        self.gauss[1 : 2 + n] = self.free[1 : 2 + n]
        self.gauss[2 + 2 * n :] = self.free[2 + 2 * n :]  # named nuisances
        self.gamma = np.zeros(model.npar, bool)
        if model.background_constraint == "gamma":
            self.gamma[g] = self.free[g]
        else:
            self.gauss[g] = self.free[g]
        self.taus = np.zeros(model.npar)
        self.taus[g] = self.tau
        self.Cd, self.Dd = model.down_slopes()
        self.asym = not (np.array_equal(self.C, self.Cd) and np.array_equal(self.D, self.Dd))

    def slopes(self, x):
        """Exponent slopes of signal and background: (n, P) arrays, or (T, n, P) when the
        named nuisances are asymmetric (the slope below 0 where a parameter is negative)."""
        if not self.asym:
            return self.C[None], self.D[None]
        neg = (x < 0)[:, None, :]
        return np.where(neg, self.Cd, self.C), np.where(neg, self.Dd, self.D)

    def rates(self, x):
        if self.asym:
            Cx, Dx = self.slopes(x)
            es = np.einsum("tp,tip->ti", x, Cx)
            eb = np.einsum("tp,tip->ti", x, Dx)
        else:
            es, eb = x @ self.C.T, x @ self.D.T
        E = np.exp(np.clip(es, -700.0, 700.0))  # (T, n)
        S = x[:, :1] * self.a * E
        B = self.b * np.exp(np.clip(eb, -700.0, 700.0))
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
        nu = np.maximum(S + B, 1e-150)  # b = 0 and mu = 0: nu = 0 (v = n / nu^2 stays finite)
        w = 1.0 - n / nu  # (T, n)
        v = n / nu**2
        aE = self.a * E  # dS/dmu
        # J[t, i, p] = dnu_i/dx_p
        Cx, Dx = self.slopes(x)  # (1 or T, n, P)
        J = S[:, :, None] * Cx + B[:, :, None] * Dx
        J[:, :, 0] = aE
        grad = np.einsum("ti,tip->tp", w, J)
        # second derivatives of nu
        K = S[:, :, None, None] * (Cx[:, :, :, None] * Cx[:, :, None, :])
        K += B[:, :, None, None] * (Dx[:, :, :, None] * Dx[:, :, None, :])
        cross = aE[:, :, None] * Cx  # d2S/dmu dx_p
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


def as_data(model: CountingModel, observed, aux=None):
    n = np.asarray(observed, float).reshape(1, model.nbins)
    a = model.nominal_aux()[None, :] if aux is None else np.asarray(aux, float).reshape(1, -1)
    return n, a


def fit(model: CountingModel, observed, mu: float | None = None, aux=None):
    """Best fit parameters [mu, t_1..t_n, t_c, g_1..g_n] and the NLL (mu fixed if given)."""
    n, a = as_data(model, observed, aux)
    x, f = Fitter(model).fit(n, a, mu=mu)
    return x[0], float(f[0])
