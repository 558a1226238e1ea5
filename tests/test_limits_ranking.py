"""Impacts of the named nuisances on N_up (limits.ranking), checked against exact limits, and the
systematics of limit inputs v2 in the limit document, its ranking plot and the report."""

from __future__ import annotations

import json
import math

import pytest
from _nuisances import PUBLISHED, code1, prior_average, published_raw, with_nuisances
from scipy import optimize, stats

from na64reco.limit_inputs import LimitInputs
from na64reco.limits import ranking as rk
from na64reco.limits import statistics as st
from na64reco.limits.counting import NamedNuisance
from na64reco.limits.plots import make_limit_plots
from na64reco.pipeline.html import render
from na64reco.pipeline.limits import limit_document
from na64reco.pipeline.report import _systematics_section
from na64reco.schemas.limit import LimitDocument

UP, DOWN = math.exp(0.335), math.exp(-0.29)  # logs on the rounding grid of the limit cache


def test_background_impacts_are_the_exact_limits_at_the_shifted_background():
    h = NamedNuisance("bkg", (1.0,), (1.0,), (UP,), (DOWN,))
    model = st.CountingModel((1.0,), (1.0,), nuisances=(h,))
    nominal, (imp,) = rk.nuisance_impacts(model, (2,))

    def cls(s):  # Cousins-Highland CLs over the nuisance prior, by quadrature
        num = prior_average(lambda x: stats.poisson.cdf(2, s + code1(x, UP, DOWN)))
        return num / prior_average(lambda x: stats.poisson.cdf(2, code1(x, UP, DOWN))) - 0.1

    assert nominal == pytest.approx(optimize.brentq(cls, 1, 20), rel=1e-3)
    assert imp["up"] == pytest.approx(st.poisson_upper_limit(2, UP) / nominal - 1, abs=2e-4)
    assert imp["down"] == pytest.approx(st.poisson_upper_limit(2, DOWN) / nominal - 1, abs=2e-4)
    assert imp["drop"] == pytest.approx(st.poisson_upper_limit(2, 1.0) / nominal - 1, abs=2e-4)
    assert imp["up"] < 0 < imp["down"]  # more background, lower CLs+b tail: a lower limit


def test_signal_impacts_count_nominal_signal_events():
    """Two periods, 0 observed, a signal factor on the second: at +1 sigma the total signal is
    T = a_1 + a_2 UP times the nominal, so N_up (in nominal events) is ln 10 / T."""
    a = (0.4, 0.6)
    h = NamedNuisance("eff2", (1.0, UP), (1.0, DOWN), (1.0, 1.0), (1.0, 1.0))
    model = st.CountingModel(a, (0.2, 0.3), nuisances=(h,))
    nominal, (imp,) = rk.nuisance_impacts(model, (0, 0))
    exact = optimize.brentq(
        lambda s: prior_average(lambda x: math.exp(-s * (a[0] + a[1] * code1(x, UP, DOWN)))) - 0.1,
        1,
        10,
    )
    assert nominal == pytest.approx(exact, rel=1e-3)
    for key, f in (("up", UP), ("down", DOWN), ("drop", 1.0)):
        t = a[0] + a[1] * f
        assert imp[key] == pytest.approx(math.log(10) / t / nominal - 1, abs=2e-4)


def test_ranking_orders_by_the_largest_impact():
    big = NamedNuisance("big", (1.3, 1.3), (0.8, 0.8), (1.0, 1.0), (1.0, 1.0))
    small = NamedNuisance("small", (1.02, 1.0), (0.98, 1.0), (1.0, 1.0), (1.0, 1.0))
    model = st.CountingModel((0.5, 0.5), (0.2, 0.3), nuisances=(small, big))
    cfg = {"mass_gev": 0.01, "counting_model": model, "observed": (0, 0)}
    res = rk.ranking([cfg, {**cfg, "mass_gev": 0.1}])
    assert [r["name"] for r in res["impacts"]] == ["big", "small"]
    assert res["quantity"] == "observed N_up"
    assert len(res["impacts"][0]["up"]) == 2


@pytest.fixture(scope="module")
def v2_document(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rank")
    path = folder / "inputs.json"
    path.write_text(json.dumps(with_nuisances(published_raw())))
    inputs = LimitInputs.model_validate_json(path.read_text())
    doc = limit_document(inputs, "aprime", source=path, masses=[0.001, 0.03, 1.0])
    return doc, folder


def test_limit_document_carries_the_systematics_and_the_ranking(v2_document):
    doc, _ = v2_document
    LimitDocument.model_validate(doc)
    table = doc["systematics"]
    assert [(r["period"], r["name"]) for r in table] == [
        ("2016", "ecal_scale"), ("2017", "ecal_scale"), ("2018", "ecal_scale"),
        ("2018", "eot_2018"),
    ]  # fmt: skip
    assert table[0]["background_up"] == 1.21
    assert table[0]["signal_up"] == "0.98"
    assert doc["ranking"]["masses_gev"] == [0.001, 0.03, 1.0]
    # the EOT factor 1.03 on 2018 (share 1.87 / 2.84) raises the signal by 1.98 %: N_up in
    # nominal events falls by about that (the other priors change it by < 0.1 %)
    eot = next(r for r in doc["ranking"]["impacts"] if r["name"] == "eot_2018")
    assert eot["up"][0] == pytest.approx(1 / (1 + 0.03 * 1.87 / 2.84) - 1, abs=1e-3)
    # without nuisances: neither (the v1 document of before)
    v1 = limit_document(
        LimitInputs.model_validate(published_raw()), "aprime", source=PUBLISHED / "paper000.json",
        masses=[0.01],
    )  # fmt: skip
    assert v1["systematics"] is None
    assert v1["ranking"] is None


def test_ranking_plot_and_report_section(v2_document):
    doc, folder = v2_document
    paths = make_limit_plots(doc, folder / "plots")
    ranking_png = folder / "plots" / "ranking_aprime.png"
    assert ranking_png in paths
    assert ranking_png.stat().st_size < 200_000
    section = _systematics_section({"limits": {"aprime": doc}}, folder / "plots")
    page = render("r", [], [section])
    assert '<details id="systematics">' in page
    assert "<td>ecal_scale</td><td>calibration</td><td>1.21 / 0.83</td>" in page
    assert page.count("<caption>2018:") == 1
    assert "data:image/png;base64," in page
    empty = _systematics_section({"limits": {}}, folder / "none")
    assert empty.tables == []
    assert "No named nuisances" in empty.text[0]
