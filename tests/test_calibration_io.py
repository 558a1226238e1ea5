"""Calibration files: correctionlib round trip, validation errors, the fileset recipe and CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import correctionlib
import numpy as np
import pytest
from click.testing import CliRunner

from na64reco.calibration import CalibrationError
from na64reco.calibration.io import load_calibration, write_calibration
from na64reco.calibration.truth import calibration_from_truth
from na64reco.cli import main
from na64reco.errors import ConfigError
from na64reco.fileset import load_fileset

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data_samples" / "fileset.json"
SHIPPED = ROOT / "calib" / "na64sim-2016-2022.json"


@pytest.fixture(scope="module")
def truth_sets():
    a = dataclasses.replace(calibration_from_truth("2016"), provenance={"source": "truth"})
    b = dataclasses.replace(calibration_from_truth("2022"), version=0)
    return [a, b]


@pytest.fixture
def written(tmp_path, truth_sets):
    return write_calibration(tmp_path / "calib.json", truth_sets, version=3)


def test_round_trip(written, truth_sets):
    db = load_calibration(written)
    assert len(db.sets) == 2
    for orig in truth_sets:
        back = db.for_run(orig.run_min)
        assert back.name == orig.name
        assert back.period == orig.period
        assert (back.run_min, back.run_max) == (orig.run_min, orig.run_max)
        for det in ("ecal", "hcal", "srd", "veto", "counter"):
            for q in ("pedestal", "gain", "noise", "t0", "status"):
                # correctionlib's JSON parser may differ in the last bit (1e-16 relative)
                np.testing.assert_allclose(
                    getattr(back.detector(det), q),
                    getattr(orig.detector(det), q),
                    rtol=1e-12,
                    err_msg=det + q,
                )
        np.testing.assert_allclose(back.mm_t0, orig.mm_t0, rtol=1e-12)
        np.testing.assert_allclose(back.straw_window_ns, orig.straw_window_ns, rtol=1e-12)
        np.testing.assert_allclose(
            back.counter_threshold_adc, orig.counter_threshold_adc, rtol=1e-12
        )
        assert back.provenance == orig.provenance


def test_plain_correctionlib_reads_it(written, truth_sets):
    cset = correctionlib.CorrectionSet.from_file(str(written))
    ecal = truth_sets[0].ecal
    channel = np.arange(72)
    gains = cset["ecal_gain"].evaluate(np.full(72, 2000), channel)
    np.testing.assert_allclose(gains, ecal.gain.ravel(), rtol=1e-12)
    assert cset["ecal_gain"].version == 3
    with pytest.raises(RuntimeError):
        cset["ecal_gain"].evaluate(1000, 0)  # below every run range: flow "error"
    with pytest.raises(IndexError):
        cset["ecal_gain"].evaluate(3000, 0)  # the gap between 2016 and 2022


def test_run_without_constants_names_the_run(written):
    db = load_calibration(written)
    with pytest.raises(CalibrationError, match="run 5000 has no calibration constants"):
        db.for_run(5000)


def _corrupt(path: Path, edit) -> Path:
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))
    return path


def test_schema_violation_names_file_and_item(written):
    def edit(raw):
        raw["corrections"][3]["data"]["flow"] = "bogus"

    _corrupt(written, edit)
    with pytest.raises(ConfigError, match=r"calib\.json: corrections\.3\(ecal_t0\)"):
        load_calibration(written)


def test_missing_correction_and_wrong_shape(written, tmp_path):
    raw = json.loads(written.read_text())
    for i, c in enumerate(raw["corrections"]):
        if c["name"] == "hcal_gain":
            del raw["corrections"][i]
            break
    bad = tmp_path / "missing.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"missing\.json: corrections\.hcal_gain: missing"):
        load_calibration(bad)

    def shorten(raw):
        for c in raw["corrections"]:
            if c["name"] == "veto_pedestal":
                c["data"]["content"][0]["content"].pop()

    _corrupt(written, shorten)
    with pytest.raises(ConfigError, match=r"veto_pedestal.*5 channels, expected 6"):
        load_calibration(written)


def test_not_json_and_bad_metadata(tmp_path, written):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json: \(file\)"):
        load_calibration(bad)
    _corrupt(written, lambda raw: raw.update(description="free text"))
    with pytest.raises(ConfigError, match=r"calib\.json: description"):
        load_calibration(written)


def test_shipped_file_loads_and_covers_the_samples():
    db = load_calibration(SHIPPED)
    assert [c.period for c in db.sets] == ["2016", "2022"]
    correctionlib.CorrectionSet.from_file(str(SHIPPED))
    for entry in load_fileset(SAMPLES).files:
        db.for_runs(np.arange(entry.run_min, entry.run_max + 1))
    assert db.for_run(1800).shower_profile is not None


def _subset_fileset(tmp_path: Path, keep) -> Path:
    raw = json.loads(SAMPLES.read_text())
    raw["files"] = [
        {**f, "path": str((SAMPLES.parent / f["path"]).resolve())} for f in raw["files"] if keep(f)
    ]
    out = tmp_path / "fileset.json"
    out.write_text(json.dumps(raw))
    return out


def test_fileset_without_random_triggers(tmp_path):
    fs = _subset_fileset(tmp_path, lambda f: f["kind"] == "calibration")
    from na64reco.calib.derive import calibrate_fileset

    with pytest.raises(CalibrationError, match=r"fileset .*fileset\.json: period 2016: no random"):
        calibrate_fileset(fs)


def test_cli_calibrate(tmp_path):
    fs = _subset_fileset(
        tmp_path, lambda f: f["period"] == "2016" and f["kind"] in ("calibration", "random")
    )
    out = tmp_path / "calib" / "test.json"
    result = CliRunner().invoke(main, ["-q", "calibrate", str(fs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ECAL PS[5][1]" in result.output
    assert "flagged dead" in result.output
    db = load_calibration(out)
    assert db.sets[0].name == "test-2016"
    bad = CliRunner().invoke(
        main,
        [
            "-q",
            "calibrate",
            str(_subset_fileset(tmp_path, lambda f: f["kind"] == "calibration")),
            "--out",
            str(out),
        ],
    )
    assert bad.exit_code == 1
    assert "no random-trigger events" in bad.output
