"""Coverage of the sideband estimate at small size (the full figures: run the script)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from na64reco.efficiency import SYST_REL

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_background_coverage.py"


def test_sideband_pull_small_ensemble():
    spec = importlib.util.spec_from_file_location("cov", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.run(datasets=8, truth_factor=8)
    assert res["fitted"] == 8
    # at N = 8 the pull mean is known to +- ~0.4: a 3-sigma band around 0 (the large run of the
    # script gives the 0.2 / 0.8-1.2 figures); the width within a broad band
    assert abs(res["pull_mean"]) < 3 * res["pull_mean_err"] + 0.2
    assert 0.4 < res["pull_width"] < 1.8
    assert np.isfinite(res["truth"])
    assert res["truth"] > 1


def test_efficiency_systematic_stated():
    assert 0.1 < SYST_REL < 0.12
