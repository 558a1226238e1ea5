"""Weighted cutflows (sum w, sum w^2 through coffea's PackedSelection), the simulation weights
and the systematics file's validation (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from na64reco.conditions import get_period
from na64reco.conditions.processes import pileup_mean
from na64reco.cutsets import load_cutset
from na64reco.errors import ConfigError
from na64reco.systematics.config import load_systematics
from na64reco.systematics.cutflow import weighted_cutflow, weighted_nminus1
from na64reco.systematics.weights import simulation_weight


def test_unit_weights_reproduce_the_integer_cutflow():
    """No weights: the integer counts of the cumulative selection, exactly (ints); unit
    weights: the same numbers as floats."""
    rng = np.random.default_rng(7)
    masks = {f"c{i}": rng.random(10_000) < p for i, p in enumerate((0.9, 0.7, 0.95, 0.5))}
    passed = np.ones(10_000, dtype=bool)
    expected = {"all": 10_000}
    for name, m in masks.items():
        passed &= m
        expected[name] = int(passed.sum())
    flow = weighted_cutflow(masks)
    assert {k: int(v[0]) for k, v in flow.items()} == expected
    assert all(v.dtype == np.int64 and v[0] == v[1] for v in flow.values())
    ones = weighted_cutflow(masks, np.ones(10_000))
    assert {k: v.tolist() for k, v in ones.items()} == {
        k: [float(n), float(n)] for k, n in expected.items()
    }


def test_toy_with_known_weights_sumw2_exact():
    """Four events, weights 0.5, 2, 3, 4: the sums by hand."""
    masks = {"a": np.array([1, 1, 0, 1], bool), "b": np.array([1, 0, 0, 1], bool)}
    w = np.array([0.5, 2.0, 3.0, 4.0])
    flow = weighted_cutflow(masks, w)
    assert flow["all"].tolist() == [9.5, 0.25 + 4 + 9 + 16]
    assert flow["a"].tolist() == [6.5, 0.25 + 4 + 16]
    assert flow["b"].tolist() == [4.5, 0.25 + 16]
    nm1 = weighted_nminus1(masks, w)
    assert nm1["a"].tolist() == [4.5, 16.25]  # only b applied
    assert nm1["b"].tolist() == [6.5, 20.25]  # only a applied
    visible = np.array([1, 1, 1, 0], bool)  # a common mask (e.g. the visible events)
    assert weighted_cutflow(masks, w, visible)["b"].tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="finite"):
        weighted_cutflow(masks, np.array([1.0, np.nan, 1.0, 1.0]))


@pytest.mark.parametrize("r", [0.7, 1.3])
def test_pileup_weight_is_the_poisson_ratio(r):
    """Exact: sum_n P(n; mu) w(n) = 1 and sum_n n P(n; mu) w(n) = r mu."""
    mu = pileup_mean(get_period("2016"))
    n = np.arange(60)
    p = stats.poisson.pmf(n, mu)
    w = simulation_weight("pileup", r, n, "2016")
    np.testing.assert_allclose(w, stats.poisson.pmf(n, r * mu) / p, rtol=1e-12)
    assert np.sum(p * w) == pytest.approx(1.0, rel=1e-12)
    assert np.sum(n * p * w) == pytest.approx(r * mu, rel=1e-12)


@pytest.mark.parametrize("k", [0.67, 1.5])
def test_beam_energy_weight_rescales_the_spread(k):
    """The weighted Gaussian has unit norm and variance (k s)^2 (quadrature)."""
    p = get_period("2022")
    e0, s = p.beam_energy_gev, p.beam_energy_gev * p.beam_momentum_spread

    def weighted(e, power):
        return (
            stats.norm.pdf(e, e0, s)
            * simulation_weight("beam_energy", k, e, "2022")
            * ((e - e0) ** power)
        )

    lim = (e0 - 12 * k * s, e0 + 12 * k * s)
    assert integrate.quad(weighted, *lim, args=(0,))[0] == pytest.approx(1.0, rel=1e-9)
    assert integrate.quad(weighted, *lim, args=(2,))[0] == pytest.approx((k * s) ** 2, rel=1e-9)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "syst.toml"
    path.write_text('name = "invisible"\nversion = 1\ndescription = "t"\n' + body)
    return path


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[[variations]]\nname = "x"\nkind = "magic"\n', "variations.0", "kind"),
        (
            '[[variations]]\nname = "x"\nkind = "calibration"\ndetector = "ecal"\n',
            "variations.0.calibration",
            "exactly one of shift",
        ),
        (
            '[[variations]]\nname = "x"\nkind = "calibration"\ndetector = "gem"\nshift = 0.1\n',
            "variations.0.calibration.detector",
            "",
        ),
        (
            '[[variations]]\nname = "x"\nkind = "cut"\ncut = "nope"\nbound = "max"\n'
            "up = 1.0\ndown = -1.0\n",
            "variations.0.cut",
            "no cut 'nope'",
        ),
        (
            '[[variations]]\nname = "x"\nkind = "cut"\ncut = "veto"\nbound = "min"\n'
            "up = 1.0\ndown = -1.0\n",
            "variations.0.bound",
            "no min bound",
        ),
        (
            '[[variations]]\nname = "x"\nkind = "weight"\nweight = "pileup"\nup = 1.2\n'
            'down = 0.8\n[[variations]]\nname = "x"\nkind = "weight"\nweight = "pileup"\n'
            "up = 1.2\ndown = 0.8\n",
            "(top level)",
            "declared twice",
        ),
    ],
)
def test_bad_systematics_file_names_file_and_key(tmp_path, body, key, problem):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_systematics(path, load_cutset("invisible"))
    assert str(path) in str(err.value)
    assert err.value.key.startswith(key.split(".")[0]), err.value.key
    if key != "(top level)":
        assert err.value.key.startswith(key), err.value.key
    assert problem in str(err.value)


def test_shipped_systematics_load():
    syst = load_systematics("invisible", load_cutset("invisible"))
    assert {v.kind for v in syst.variations} == {"calibration", "cut", "weight"}
    assert {v.detector for v in syst.variations if v.kind == "calibration"} == {
        "ecal",
        "hcal",
        "srd",
        "veto",
    }


def test_unit_weight_variation_reproduces_the_signal_cutflow():
    """On the shipped signal samples: a weight variation with factor 1 weights every event by
    exactly 1, so its [sum w, sum w^2] cutflow is the integer cutflow and its factor is 1."""
    from na64reco.run.efficiency import run_signal_efficiency
    from na64reco.shipped import sample_fileset_path

    toml = (
        'name = "invisible"\nversion = 1\ndescription = "t"\n[[variations]]\nname = "unit"\n'
        'kind = "weight"\nweight = "pileup"\nup = 1.0\ndown = 1.0\n'
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unit.toml"
        path.write_text(toml)
        rows = run_signal_efficiency(
            sample_fileset_path(), "invisible", systematics=path, quiet=True
        )["rows"]
    assert rows
    for row in rows:
        for label in ("unit__up", "unit__down"):
            var = row["variations"][label]
            assert var["cutflow"] == {k: [float(n), float(n)] for k, n in row["cutflow"].items()}
            assert var["efficiency"] == row["efficiency"]
            assert var["factor"] == 1.0


def test_sideband_band_is_the_quadrature_envelope(tmp_path):
    """Two nuisances, by hand: per bin the largest upward / downward deviation of each, added
    in quadrature; and the plot of it is written."""
    import hist

    from na64reco.plots.variations import band, plot_sideband_variations

    labels = ["nominal", "a__up", "a__down", "b__up", "b__down"]
    h = hist.Hist(
        hist.axis.StrCategory(labels, name="syst"),
        hist.axis.StrCategory(["2016"], name="period"),
        hist.axis.Regular(2, 60.0, 62.0, name="ecal_e"),
        storage=hist.storage.Int64(),
    )
    counts = {"nominal": [10, 5], "a__up": [12, 5], "a__down": [9, 8], "b__up": [10, 1]}
    counts["b__down"] = [13, 5]
    for lab, c in counts.items():
        h[{"syst": lab, "period": "2016"}] = np.array(c)
    nominal, up, down = band(h, "2016")
    np.testing.assert_array_equal(nominal, [10, 5])
    np.testing.assert_allclose(up, [10 + np.hypot(2, 3), 5 + 3])
    np.testing.assert_allclose(down, [10 - 1, 5 - 4])
    path = plot_sideband_variations(
        h, "2016", tmp_path / "s.png", summary={"analysis": "invisible"},
        cutset=load_cutset("invisible"),
    )  # fmt: skip
    assert path.stat().st_size > 1000
