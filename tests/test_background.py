"""Background stage: sideband fit, ABCD, bad inputs, the CLI on the shipped sample."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from na64reco.background.abcd import abcd_prediction, region_counts
from na64reco.background.build import build_background
from na64reco.background.sideband import (
    FIT_MAX_GEV,
    SidebandFitError,
    default_fit_range,
    fit_sideband,
    poisson_upper,
    sideband_estimate,
)
from na64reco.cli import main
from na64reco.errors import ConfigError
from na64reco.limit_inputs import load_limit_inputs
from na64reco.run.outputs import read_histograms


def _exp_sample(rng, n, slope, lo, hi):
    u = rng.random(n)
    return np.log(np.exp(slope * lo) + u * (np.exp(slope * hi) - np.exp(slope * lo))) / slope


def test_exponential_fit_recovers_box_integral():
    rng = np.random.default_rng(3)
    slope, n = 0.125, 4000
    e = _exp_sample(rng, n, slope, 50.0, 80.0)
    res = fit_sideband(e, "exp", (50.0, 80.0), (0.0, 50.0))
    assert res.converged
    truth = (
        n
        * (1 - np.exp(-slope * 50))
        / (np.exp(slope * 80) - np.exp(slope * 50))
        * np.exp(slope * 50)
    )
    assert abs(res.box - truth) < 3 * res.box_stat
    assert abs(res.values["b"] - slope) < 3 * res.errors["b"]


def test_estimate_keeps_stat_and_syst_apart():
    rng = np.random.default_rng(4)
    e = _exp_sample(rng, 400, 0.125, 50.0, 80.0)
    r = sideband_estimate(e, (0.0, 50.0), (50.0, 80.0))
    assert r["kind"] == "fit"
    assert r["stat"] > 0
    assert r["syst"] >= 0
    assert r["low"] <= r["expected"] <= r["high"]
    assert r["syst"] == pytest.approx(0.5 * (r["high"] - r["low"]))
    assert len(r["fits"]) == 9  # 3 models x 3 ranges


def test_zero_sideband_events_is_an_upper_bound():
    r = sideband_estimate(np.array([]), (0.0, 50.0), (50.0, 80.0))
    assert r["kind"] == "upper_bound"
    assert r["expected"] == 0.0
    assert poisson_upper(0) == pytest.approx(2.303, abs=1e-3)
    assert r["upper_90"] == pytest.approx(2.303 * 50 / 30, rel=1e-3)


def test_nonconverging_fit_is_an_error_naming_the_source():
    e = np.full(30, 50.001)  # all at the edge: the slope runs to its limit
    with pytest.raises(SidebandFitError, match=r"runs/x/sideband_events.csv.*not converged"):
        sideband_estimate(e, (0.0, 50.0), (50.0, 80.0), source="runs/x/sideband_events.csv")


def test_abcd_regions_and_prediction():
    ecal_edges = np.arange(0.0, 151.0)
    hcal_edges = np.arange(0.0, 121.0)
    counts = np.zeros((len(ecal_edges) + 1, len(hcal_edges) + 1))
    counts[1 + 10, 1 + 5] = 7  # A: E_ECAL 10, E_HCAL 5
    counts[1 + 60, 1 + 0] = 3  # C
    counts[1 + 60, 1 + 30] = 21  # D
    counts[1 + 10, 1 + 0] = 99  # box: not used
    reg = region_counts(ecal_edges, hcal_edges, counts, 50.0, 1.0)
    assert reg == {"A": 7, "C": 3, "D": 21}
    p = abcd_prediction(7, 3, 21, k=2.0, k_err=0.5)
    assert p["expected"] == pytest.approx(2.0)
    assert p["syst"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def run_output(tmp_path_factory):
    from importlib import resources

    from _reliability import run_analysis

    samples = resources.files("na64reco.data_samples")
    out = tmp_path_factory.mktemp("bg") / "run"
    run_analysis(str(samples / "fileset.json"), "invisible", out, quiet=True, make_plots=False)
    return out


def test_cli_background_and_limit_inputs(run_output, tmp_path):
    from importlib import resources

    sig = str(resources.files("na64reco.data_samples"))
    out = tmp_path / "background.json"
    li = tmp_path / "limit_inputs.json"
    res = CliRunner().invoke(
        main,
        [
            "-q",
            "background",
            str(run_output),
            "--out",
            str(out),
            "--signal-dir",
            sig,
            "--limit-inputs",
            str(li),
            "--closure-eot",
            "1e9",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    periods = {p["period"]: p for p in doc["periods"]}
    assert set(periods) == {"2016", "2022"}
    assert periods["2016"]["sideband"]["kind"] == "upper_bound"  # no sideband event in 2016
    # 2022: the fit range stops 3 resolutions (85.05 GeV) short of the 90 GeV trigger threshold;
    # nearly all of the sample's sideband is the full-energy tail above it, too few events remain
    sb22 = periods["2022"]["sideband"]
    assert sb22["fit_range_gev"] == pytest.approx([50.0, 85.05], abs=0.01)
    assert sb22["trigger_max_gev"] == 90.0
    assert sb22["n_above_fit_range"] > 10 * sb22["n_sideband"]
    assert sb22["kind"] == "upper_bound"
    assert periods["2016"]["sideband"]["fit_range_gev"] == pytest.approx([50.0, 75.51], abs=0.01)
    assert (tmp_path / "background.md").read_text().startswith("| period")
    assert (tmp_path / "background_plots" / "sideband_2022.png").is_file()
    inputs = load_limit_inputs(li)
    assert inputs.blinded
    assert all(p.observed is None for p in inputs.periods)
    assert inputs.provenance["run_outputs"][0]["summary_sha256"]
    # blinded input: the plane holds no event in the box, and the estimate does not need one
    plane = read_histograms(run_output / "histograms.json")["plane"]
    veto = plane[{"stage": "veto"}].values()  # (period, ecal, hcal)
    assert veto[:, :50, :1].sum() == 0


def test_different_cutset_is_refused(run_output, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run_output, other)
    s = json.loads((other / "summary.json").read_text())
    s["cutset"]["version"] = 99
    s["provenance"]["inputs"] = []
    (other / "summary.json").write_text(json.dumps(s))
    with pytest.raises(ConfigError, match=r"other/summary\.json: cutset: differs"):
        build_background([run_output, other], tmp_path / "b.json", closure=False)


def test_overlapping_inputs_are_refused(run_output, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(run_output, twin)
    with pytest.raises(ConfigError, match="overlapping inputs"):
        build_background([run_output, twin], tmp_path / "b.json", closure=False)


def _full_energy_tail(rng, n, threshold, e0=100.0, sigma=2.5):
    """Full-energy showers measured below the trigger threshold: a Gaussian's low tail."""
    from scipy import stats

    u = rng.random(n) * stats.norm.cdf(threshold, e0, sigma)
    return stats.norm.ppf(u, e0, sigma)


def test_default_fit_range_stops_short_of_the_full_energy_tail():
    """The trigger threshold less 3 ECAL resolutions there: 80 - 3 x 1.50, 90 - 3 x 1.65 GeV."""
    assert default_fit_range(50.0, 80.0) == pytest.approx((50.0, 75.51), abs=0.01)  # 2016-2018
    assert default_fit_range(50.0, 90.0) == pytest.approx((50.0, 85.05), abs=0.01)  # 2021-2022
    assert default_fit_range(47.0, 90.0)[0] == 47.0
    assert pytest.approx(85.05, abs=0.01) == FIT_MAX_GEV


def test_full_energy_tail_near_the_threshold_does_not_bias_the_estimate():
    """2021-2022-like sideband: a falling background plus the low tail of 100 GeV showers that
    the 90 GeV trigger lets in. Fitted up to the threshold the exponential follows the tail and
    extrapolates ~0; the default range (to 85 GeV) recovers the true box background."""
    rng = np.random.default_rng(11)
    slope, lo, top, n_bg = 0.1, 50.0, 90.0, 600
    bg = _exp_sample(rng, n_bg, slope, lo, top)
    tail = _full_energy_tail(rng, 20000, top)
    e = np.concatenate([bg, tail])
    box = (0.0, 50.0)
    truth = n_bg * (np.exp(slope * 50) - 1) / (np.exp(slope * top) - np.exp(slope * lo))

    new = sideband_estimate(e, box, default_fit_range(50.0, top))
    assert new["fit_range_gev"] == pytest.approx([50.0, 85.05], abs=0.01)
    assert new["kind"] == "fit"
    assert abs(new["expected"] - truth) < 3 * new["stat"]
    assert new["low"] <= truth * 1.5
    assert new["high"] >= truth / 1.5

    old = sideband_estimate(e, box, (50.0, top), variations=False)
    assert old["expected"] < truth / 100  # the tail's slope: the box is extrapolated to ~0


def _edited_copy(run_output, folder, edit):
    other = folder / "edited"
    shutil.copytree(run_output, other)
    summary = json.loads((other / "summary.json").read_text())
    edit(summary)
    (other / "summary.json").write_text(json.dumps(summary))
    return other


def _forged_unblinding(summary: dict) -> None:
    entry = {"format": "na64-unblinding", "version": 1, "time": "2026-01-01T00:00:00+00:00",
             "user": "someone", "host": "h", "regions": ["invisible"], "signal_box": [],
             "analysis": "invisible", "configuration_sha256": "c", "configuration": {},
             "output": "o", "command": None, "previous_sha256": None,
             "entry_sha256": "e"}  # fmt: skip
    summary["blinding"]["ledger"]["entries"] = [entry]


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda s: s.pop("blinding"), "blinding", "Field required"),
        (lambda s: s["blinding"]["definition"].update(version=0), "blinding.definition",
         "made with the blinding definition v0"),
        (lambda s: s["blinding"]["regions_hidden"].remove("phi"), "blinding.regions_hidden",
         "the region(s) ['phi'] were neither hidden nor opened"),
        (lambda s: s["blinding"].update(regions_opened=["invisible"]), "blinding.blinded",
         "says blinded=True with the region(s) ['invisible'] opened"),
        (lambda s: s["blinding"]["calibration"].update(sha256="0" * 64), "blinding.calibration",
         "regions evaluated with constants of sha256 000"),
        (_forged_unblinding, "blinding.ledger", "which is missing: outputs stay next to their"),
        (lambda s: s["cutset"].update(signal_box=["box"]), "cutset.signal_box",
         "the protected region 'invisible'"),
    ],
    ids=["no record", "another definition", "a region not hidden", "opened but blinded",
         "other blinding constants", "unblinding not in the ledger", "box of the cut set"],
)  # fmt: skip
def test_background_refuses_a_run_whose_blinding_record_does_not_match(
    run_output, tmp_path, edit, key, problem
):
    other = _edited_copy(run_output, tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        build_background([other], tmp_path / "b.json", closure=False)
    assert (info.value.path, info.value.key) == (str(other / "summary.json"), key)
    assert problem in info.value.problem
    assert not (tmp_path / "b.json").exists()


def test_background_of_a_run_without_a_box_is_refused(tmp_path):
    """``na64 background`` on a dimuon output (no signal box): one error line naming it."""
    from importlib import resources

    from _reliability import run_analysis

    samples = resources.files("na64reco.data_samples")
    out = tmp_path / "dimuon"
    run_analysis(str(samples / "fileset.json"), "dimuon", out, quiet=True, make_plots=False)
    result = CliRunner().invoke(
        main, ["-q", "background", str(out), "--out", str(tmp_path / "b.json"), "--no-closure"]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"Error: {out / 'summary.json'}: cutset.name: is 'dimuon', expected 'invisible'" in (
        " ".join(result.output.split())
    )
