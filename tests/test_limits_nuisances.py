"""Named nuisances (limit_inputs v2) in the CLs calculators: checked against exact integrals over
the nuisance prior and against pyhf's own fits of the same model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _nuisances import PUBLISHED, code1, prior_average, with_nuisances
from scipy import optimize, stats

from na64reco.limit_inputs import LimitInputs
from na64reco.limits import scan as sc
from na64reco.limits import statistics as st
from na64reco.limits.counting import NamedNuisance

pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)


def hybrid_by_quadrature(n: int, b: float, sig: tuple, bkg: tuple, cl: float = 0.9) -> float:
    """N_up of one bin with one nuisance h ~ N(0, 1) acting on signal (up, down) and background
    (up, down), Cousins-Highland CLs = int P(N <= n | s f_s(h) + b f_b(h)) dphi / int P(N <= n |
    b f_b(h)) dphi, by adaptive quadrature (independent of the Sobol sampling of the code)."""

    avg = prior_average

    def cls(s):
        num = avg(lambda h: stats.poisson.cdf(n, s * code1(h, *sig) + b * code1(h, *bkg)))
        den = avg(lambda h: stats.poisson.cdf(n, b * code1(h, *bkg)))
        return num / den - (1 - cl)

    return optimize.brentq(cls, 0.1, 50.0, xtol=1e-9)


@pytest.mark.parametrize(
    ("n", "b", "sig", "bkg"),
    [
        (0, 0.5, (0.8, 1.3), (1.0, 1.0)),  # 0 observed: only the signal factor matters
        (2, 1.0, (0.9, 1.05), (1.4, 0.75)),  # asymmetric on both
        (1, 0.3, (1.0, 1.0), (2.0, 0.5)),  # background only
    ],
)
def test_hybrid_with_a_named_nuisance_equals_the_integral_over_its_prior(n, b, sig, bkg):
    h = NamedNuisance("x", (sig[0],), (sig[1],), (bkg[0],), (bkg[1],))
    model = st.CountingModel((1.0,), (b,), nuisances=(h,))
    ours = st.upper_limit(model, (n,), "hybrid", ntoys=8192)
    exact = hybrid_by_quadrature(n, b, sig, bkg)
    # Sobol average over 4096 points: ~1e-4 of CLs; limit to 1e-3 relative
    assert ours == pytest.approx(exact, rel=1e-3)
    # and the nuisance moves the limit (not a test that passes without it)
    assert abs(exact - st.poisson_upper_limit(n, b)) > 5e-3


def test_a_symmetric_named_nuisance_is_the_legacy_log_normal_signal_uncertainty():
    legacy = st.CountingModel((0.4, 0.6), (0.2, 0.3), signal_unc=(0.0, 0.0), signal_corr_unc=0.2)
    named = st.CountingModel(
        (0.4, 0.6),
        (0.2, 0.3),
        nuisances=(NamedNuisance("y", (1.2, 1.2), (1 / 1.2,) * 2, (1, 1), (1, 1)),),
    )
    for obs in ((0, 0), (1, 2)):
        a = st.upper_limit(legacy, obs, "hybrid", ntoys=8192)
        b = st.upper_limit(named, obs, "hybrid", ntoys=8192)
        assert a == pytest.approx(b, rel=2e-3)


def test_profile_likelihood_with_asymmetric_nuisances_matches_pyhf():
    pyhf = pytest.importorskip("pyhf")
    nuis = (
        NamedNuisance("ecal", (0.95, 0.97), (1.04, 1.02), (1.3, 1.2), (0.8, 0.85)),
        NamedNuisance("eot", (1.03, 1.0), (0.97, 1.0), (1.0, 1.0), (1.0, 1.0)),
    )
    model = st.CountingModel((0.3, 0.7), (0.8, 1.5), (0.2, 0.3), (0.1, 0.05), 0.1, nuisances=nuis)
    pmodel, data = st.pyhf_model(model)
    assert {"ecal", "eot", "mu"} <= set(pmodel.config.parameters)
    assert pmodel.config.param_set("ecal").n_parameters == 1  # one name: one parameter
    init, bounds = pmodel.config.suggested_init(), pmodel.config.suggested_bounds()
    fixed = pmodel.config.suggested_fixed()
    for obs in [(0, 0), (1, 3), (4, 0)]:
        for mu in (1.0, 3.0, 6.0):
            ours = st.q_tilde(model, mu, obs)
            theirs = float(
                pyhf.infer.test_statistics.qmu_tilde(mu, data(obs), pmodel, init, bounds, fixed)
            )
            assert ours == pytest.approx(theirs, abs=5e-5)
        x, _ = st.fit(model, obs)
        bf = pyhf.infer.mle.fit(data(obs), pmodel)
        assert x[0] == pytest.approx(float(bf[pmodel.config.poi_index]), abs=3e-3)
        # the pulls of the named nuisances agree too
        for k, name in enumerate(("ecal", "eot")):
            sl = pmodel.config.par_slice(name)
            assert x[2 + 2 * model.nbins + k] == pytest.approx(float(bf[sl][0]), abs=3e-3)


def test_scan_uses_the_inputs_nuisances_and_without_them_is_unchanged(tmp_path):
    raw = json.loads((PUBLISHED / "paper000.json").read_text())
    v1 = LimitInputs.model_validate(raw)
    v2 = LimitInputs.model_validate(with_nuisances(raw))
    cm1, _, _ = sc.counting_model(v1, "aprime", 0.01, signal_corr_unc=0.1)
    cm2, _, _ = sc.counting_model(v2, "aprime", 0.01, signal_corr_unc=0.1)
    assert cm1.nuisances == ()
    assert [h.name for h in cm2.nuisances] == ["ecal_scale", "eot_2018"]
    ecal, eot = cm2.nuisances
    assert ecal.background_up == (1.21,) * 3
    assert ecal.signal_up == pytest.approx((0.98,) * 3)
    # the EOT nuisance of 2018 multiplies only the 2018 signal
    assert eot.signal_up == pytest.approx((1.0, 1.0, 1.03))
    assert cm2.npar == cm1.npar + 2
    base = sc.scan(v1, "aprime", [0.01], signal_corr_unc=0.1)
    more = sc.scan(v2, "aprime", [0.01], signal_corr_unc=0.1)
    assert more["settings"]["nuisances"] == ["ecal_scale", "eot_2018"]
    # 0 observed: N_up = ln 10 with no signal uncertainty; the signal-lowering ECAL nuisance
    # (0.98 up, 1.01 down) and the EOT one widen the signal prior: N_up rises a little
    assert base["n_up"]["observed"][0] < more["n_up"]["observed"][0]
    assert more["n_up"]["observed"][0] - base["n_up"]["observed"][0] < 0.05


def test_signal_factors_interpolate_in_log_mass():
    raw = with_nuisances(json.loads((PUBLISHED / "paper000.json").read_text()))
    t = raw["periods"][0]["nuisances"][0]["signal"]["aprime"]
    t["up"] = [0.9, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9]  # masses 1, 3.16, 10 ... MeV
    inputs = LimitInputs.model_validate(raw)
    mass = math.sqrt(0.001 * 0.0031622776601683794)  # half way in log mass
    cm, _, _ = sc.counting_model(inputs, "aprime", mass)
    assert cm.nuisances[0].signal_up[0] == pytest.approx(math.sqrt(0.9 * 0.8), rel=1e-12)
    assert np.isclose(cm.nuisances[0].signal_up[1], 0.98)
