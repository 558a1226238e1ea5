"""CLs upper limits at 90% CL for the NA64-e counting experiment (one bin per run period).

The limit is set on ``mu``, the total number of expected signal events in the signal box summed
over periods; period ``i`` receives the fraction ``EOT_i eff_i / sum_j EOT_j eff_j`` (paper 000
eq. 11). A limit on ``mu`` (``N_up``) is model independent: a model turns it into a coupling
(``na64reco.limits.scan``). The implementation is split by job, in pyhf's layout:

- ``limits.counting``: the model (CountingModel) and constants (CL, BAND_KEYS, METHODS, ...);
- ``limits.fitting``: vectorised maximum-likelihood fits;
- ``limits.teststat``: the profile-likelihood ratio q~_mu;
- ``limits.calculators``: exact, hybrid and toys CLs;
- ``limits.intervals``: upper limits and expected bands;
- ``limits.pyhf_bridge``: the same model in pyhf and pyhf's asymptotics (cross-checks).

This module re-exports their public names (``from na64reco.limits import statistics as st``).
"""

from __future__ import annotations

from na64reco.limits.calculators import (
    cls_exact,
    cls_hybrid,
    cls_poisson,
    cls_toys,
    count_patterns,
    poisson_expected_limits,
    poisson_upper_limit,
)
from na64reco.limits.counting import (
    ALPHA,
    BAND_KEYS,
    BAND_PROBS,
    CL,
    DEFAULT_SEED,
    DEFAULT_TOYS,
    METHODS,
    CountingModel,
)
from na64reco.limits.fitting import fit
from na64reco.limits.intervals import expected_limits, limit_summary, resolve_method, upper_limit
from na64reco.limits.pyhf_bridge import asymptotic_expected, asymptotic_upper_limit, pyhf_model
from na64reco.limits.teststat import q_tilde

__all__ = [
    "ALPHA",
    "BAND_KEYS",
    "BAND_PROBS",
    "CL",
    "DEFAULT_SEED",
    "DEFAULT_TOYS",
    "METHODS",
    "CountingModel",
    "asymptotic_expected",
    "asymptotic_upper_limit",
    "cls_exact",
    "cls_hybrid",
    "cls_poisson",
    "cls_toys",
    "count_patterns",
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
