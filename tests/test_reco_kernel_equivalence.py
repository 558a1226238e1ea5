"""The numba kernels of the shower chi2 and of the tracking in-time flags are bit-identical to
the numpy formulations they replaced (outputs of ``na64 run`` must not change)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from na64reco.calibration.io import load_calibration
from na64reco.conditions import get_period
from na64reco.reco import tracking_kernels as k
from na64reco.reco.calorimeters import RAW_BRANCHES, reconstruct_calorimeters
from na64reco.reco.showershape import shower_chi2, shower_chi2_numpy
from na64reco.reco.tracking import MM_MIN_CLUSTER_CHARGE_ADC
from na64reco.shipped import calibration_path

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize(
    "name", ["na64sim_2016_physics_run01800", "na64sim_2016_ecal-scan_run02466"]
)
def test_shower_chi2_kernel_on_shipped_files(name):
    db = load_calibration(calibration_path())
    with uproot.open(SAMPLES / f"{name}.root") as f:
        arrays = f["events"].arrays(["run", *RAW_BRANCHES], library="np")
    cset = db.for_run(int(arrays["run"][0]))
    calo = reconstruct_calorimeters(arrays, cset)
    pitch = get_period(cset.period).geometry.ecal_cell_pitch_cm
    args = (calo["ecal_cell_e"], calo["hit_ix"], calo["hit_iy"], calo["cog_x"], calo["cog_y"])
    for usable in (cset.ecal.usable.any(axis=0), None):
        fast = shower_chi2(*args, cset.shower_profile, pitch, usable_cells=usable)
        ref = shower_chi2_numpy(*args, cset.shower_profile, pitch, usable_cells=usable)
        assert _same_bits(fast, ref)
    assert (fast < 1e3).mean() > 0.5  # mostly real showers, not the no-shower value


def test_shower_chi2_kernel_edge_cases():
    """Hit cell on every border and corner, no hit, negative and empty cells, holes, NaN CoG."""
    rng = np.random.default_rng(3)
    db = load_calibration(calibration_path())
    prof = db.sets[0].shower_profile
    n = 4000
    cells = rng.normal(0.0, 2.0, (n, 6, 6)).astype(np.float32)
    cells[rng.random((n, 6, 6)) < 0.3] = 0
    cells[: n // 10] = 0  # empty events
    hx = rng.integers(-1, 6, n).astype(np.int8)
    hy = rng.integers(-1, 6, n).astype(np.int8)
    cog = rng.normal(0.0, 8.0, (2, n)).astype(np.float32)
    cog[0, ::97] = np.nan
    usable = rng.random((6, 6)) > 0.2
    args = (cells, hx, hy, cog[0], cog[1], prof, 3.82)
    for u in (usable, None):
        assert _same_bits(
            shower_chi2(*args, usable_cells=u), shower_chi2_numpy(*args, usable_cells=u)
        )


def test_tracking_in_time_kernels():
    rng = np.random.default_rng(5)
    n = 20000
    st = rng.integers(0, 7, n).astype(np.uint8)
    t = rng.normal(0.0, 40.0, n)
    t[::101] = np.nan
    q = rng.exponential(40.0, n)
    t0 = rng.normal(0.0, 5.0, 7)
    window = np.full(7, 15.0)
    ref = (np.abs(t - t0[st]) < window[st]) & (q >= MM_MIN_CLUSTER_CHARGE_ADC)
    got = k.mm_in_time(st, t, q, t0, window, float(MM_MIN_CLUSTER_CHARGE_ADC))
    assert np.array_equal(got, ref)
    assert 0 < ref.sum() < n

    sst = rng.integers(0, 2, n).astype(np.uint8)
    stt = rng.normal(100.0, 80.0, n).astype(np.float32)
    stt[::53] = np.nan
    lo, hi = np.array([-20.0, 0.5]), np.array([200.0, 150.25])
    s_t = stt.astype(np.float64)
    ref = (s_t >= lo[sst]) & (s_t <= hi[sst])
    assert np.array_equal(k.straw_in_time(sst, stt, lo, hi), ref)
    empty = np.zeros(0, np.uint8)
    assert len(k.straw_in_time(empty, np.zeros(0, np.float32), lo, hi)) == 0
