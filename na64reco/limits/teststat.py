"""The one-sided profile-likelihood ratio q~_mu (LHC convention, as pyhf's ``qmu_tilde``).

q~_mu = 2 [NLL(mu, theta^_mu) - NLL(mu^, theta^)] for mu^ <= mu (mu^ bounded at 0), else 0.
"""

from __future__ import annotations

import numpy as np

from na64reco.limits.counting import CountingModel
from na64reco.limits.fitting import Fitter, as_data

__all__ = ["q_tilde", "qtilde_batch"]


def qtilde_batch(fitter: Fitter, mu: float, n, aux):
    """q~_mu for a batch of data sets (n, aux); returns (q, conditional fit parameters)."""
    xc, fc = fitter.fit(n, aux, mu=mu)
    xf, ff = fitter.fit(n, aux)
    q = 2.0 * (fc - ff)
    q = np.where(xf[:, 0] > mu, 0.0, np.maximum(q, 0.0))
    return q, xc


def q_tilde(model: CountingModel, mu: float, observed, aux=None) -> float:
    """The one-sided profile likelihood ratio q~_mu of data ``observed`` (nominal aux data)."""
    n, a = as_data(model, observed, aux)
    return float(qtilde_batch(Fitter(model), mu, n, a)[0][0])
