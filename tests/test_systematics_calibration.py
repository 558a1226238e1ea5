"""The gains' ``syst`` axis in the calibration files (issue 19): written from the calibration-run
uncertainties, read back, used by a ``from_file`` variation; the shipped file is unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import correctionlib
import numpy as np
import pytest

from na64reco.blinding.definition import BLINDING
from na64reco.calibration.io import load_calibration, write_calibration
from na64reco.calibration.truth import calibration_from_truth
from na64reco.checksums import sha256_file
from na64reco.errors import CalibrationError
from na64reco.eventtree import contract
from na64reco.systematics.apply import shifted_calibration
from na64reco.systematics.config import CalibrationShift

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "calib" / "na64sim-2016-2022.json"


def _with_syst(cset, rel: float):
    syst = {}
    for det in ("ecal", "hcal", "srd", "veto"):
        r = np.full(contract.DETECTOR_SHAPES[det], rel) * np.linspace(
            0.5, 1.5, int(np.prod(contract.DETECTOR_SHAPES[det]))
        ).reshape(contract.DETECTOR_SHAPES[det])
        syst[det] = {"up": 1 + r, "down": 1 - r}
    return dataclasses.replace(cset, gain_syst=syst)


@pytest.fixture
def with_axis(tmp_path):
    sets = [_with_syst(calibration_from_truth("2016"), 0.01), calibration_from_truth("2022")]
    return sets, write_calibration(tmp_path / "calib.json", sets, version=2)


def test_syst_axis_round_trip_and_plain_correctionlib(with_axis):
    sets, path = with_axis
    db = load_calibration(path)
    back = db.for_run(sets[0].run_min)
    for det, factors in sets[0].gain_syst.items():
        for k in ("up", "down"):
            np.testing.assert_allclose(back.gain_syst[det][k], factors[k], rtol=1e-12)
    assert db.for_run(sets[1].run_min).gain_syst is None  # a set without: no silent factor 1
    ev = correctionlib.CorrectionSet.from_file(str(path))
    run = sets[0].run_min
    assert ev["ecal_gain_syst"].evaluate(run, "nominal", 5) == 1.0
    assert ev["ecal_gain_syst"].evaluate(run, "up", 0) == pytest.approx(1.005)
    assert [v.name for v in ev["hcal_gain_syst"].inputs] == ["run", "syst", "channel"]


def test_from_file_variation_uses_the_axis(with_axis):
    sets, path = with_axis
    cset = load_calibration(path).for_run(sets[0].run_min)
    var = CalibrationShift(kind="calibration", name="ecal_calib", detector="ecal", from_file=True)
    up = shifted_calibration(cset, var, "up")
    np.testing.assert_allclose(up.ecal.gain, cset.ecal.gain * cset.gain_syst["ecal"]["up"])
    np.testing.assert_array_equal(up.hcal.gain, cset.hcal.gain)
    plain = load_calibration(SHIPPED).sets[0]
    with pytest.raises(CalibrationError, match="ecal_gain_syst"):
        shifted_calibration(plain, var, "down")


def test_shipped_file_unchanged():
    """The nominal constants of the shipped file, and so the blinding definition's pinned
    sha256, are those of before: the file carries no syst axis (regenerate with na64
    calibrate for one) and writing its sets again gives the same constants."""
    assert sha256_file(SHIPPED) == BLINDING.calibration.sha256
    raw = json.loads(SHIPPED.read_text())
    assert not any(c["name"].endswith("_gain_syst") for c in raw["corrections"])
    assert all(c.gain_syst is None for c in load_calibration(SHIPPED).sets)
