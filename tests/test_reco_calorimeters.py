"""Calorimeter reconstruction: closure against MC truth, resolution, timing, VETO rule, bad input.

Simulated in memory with calibration_from_truth (no dependence on derived constants).
Measured with the seeds below (2016, 2e8 EOT): ECAL reco/true 0.990 (the ~1% is the true
energy of cells below the 3-sigma zero suppression), HCAL 0.99, SRD 1.00, VETO 0.99;
100 GeV resolution 1.8% vs 1.80% simulated; hit cell = beam cell 98.7%; pile-up flag 0.4% of
events without pile-up, 95% with one pile-up particle.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from na64reco.calibration.constants import (
    STATUS_GOOD,
    CalibrationDB,
    CalibrationError,
    CalibrationSet,
    DetectorConstants,
)
from na64reco.calibration.truth import calibration_from_truth
from na64reco.conditions import RESPONSE, get_period
from na64reco.conditions.processes import PROCESS_IDS
from na64reco.reco.calorimeters import (
    IN_TIME_WINDOW_NS,
    OUT_OF_TIME_SIGMAS,
    PILEUP_LIMIT_GEV,
    RAW_BRANCHES,
    UNSUPPRESSED_HALF_WIDTH,
    ZS_SIGMAS,
    calibrate_detector,
    reconstruct_calorimeter_energies,
    reconstruct_calorimeters,
    reconstruct_calorimeters_db,
    veto_module_energy,
)
from na64reco.sim.run import SimRequest, generate_run, plan_runs


def _sim(period, **kw):
    req = SimRequest(period=period, **kw)
    arrays, _ = generate_run(req, plan_runs(req)[0])
    return arrays


@pytest.fixture(scope="module")
def physics2016():
    a = _sim("2016", eot=2e8, seed=1)
    return a, reconstruct_calorimeters(a, calibration_from_truth("2016"))


@pytest.fixture(scope="module")
def scan2016():
    a = _sim("2016", kind="ecal-scan", events=6000, seed=2)
    return a, reconstruct_calorimeters(a, calibration_from_truth("2016"))


def _beam_electrons(a, r):
    return (
        (a["mc_process"] == PROCESS_IDS["em_shower"])
        & ((a["trigger"] & 2) > 0)
        & (a["mc_n_pileup"] == 0)
    )


def test_energy_closure(physics2016):
    a, r = physics2016
    el = _beam_electrons(a, r)
    assert el.sum() > 1000
    ratio = np.mean(r["ecal_e"][el] / a["mc_ecal_edep"][el])
    assert 0.98 < ratio < 1.005, ratio
    clean = a["mc_n_pileup"] == 0
    for det, minimum in (("hcal", 5.0), ("srd", 0.002), ("veto", 0.004)):
        m = clean & (a[f"mc_{det}_edep"] > minimum)
        assert m.sum() > 500
        ratio = np.mean(r[f"{det}_e"][m] / a[f"mc_{det}_edep"][m])
        assert 0.97 < ratio < 1.02, (det, ratio)
    # ECAL = PS + main; module sums add up
    assert np.allclose(r["ecal_e"], r["ecal_ps"] + r["ecal_main"], atol=1e-3)
    assert np.allclose(r["hcal_e"], r["hcal_module_e"].sum(axis=1), atol=1e-3)
    assert np.allclose(r["srd_e"], r["srd_module_e"].sum(axis=1), atol=1e-6)
    for k, v in r.items():
        assert len(v) == len(a["run"]), k
        if v.dtype.kind == "f":
            assert np.isfinite(v).all(), k


def test_resolution_100gev(scan2016):
    """sigma/E of 100 GeV electrons within 10% of the simulated one.

    The simulated resolution is that of the true deposit (mc_ecal_edep / beam energy) of the same
    events: 10%/sqrt(E) (+) 1.5% = 1.80% plus the simulated leakage, 1.89% measured. Reco: 2.05%
    (noise of the unsuppressed 5x5 and the sub-threshold losses elsewhere).
    """
    a, r = scan2016
    full = (r["hit_ix"] >= 1) & (r["hit_ix"] <= 4) & (r["hit_iy"] >= 1) & (r["hit_iy"] <= 4)
    # pile-up flagged by the reconstruction is removed (an out-of-time pile-up pulse larger than
    # the in-time one replaces it in the digitiser: the true deposit does not see that)
    full &= ~r["pileup"]

    def width(x):
        q16, q50, q84 = np.percentile(x, [16, 50, 84])
        return (q84 - q16) / 2 / q50

    measured = width(r["ecal_e"][full] / a["mc_beam_energy"][full])
    simulated = width(a["mc_ecal_edep"][full] / a["mc_beam_energy"][full])
    formula = np.hypot(RESPONSE.ecal_stochastic / np.sqrt(100.0), RESPONSE.ecal_constant)
    assert abs(simulated / formula - 1) < 0.10, (simulated, formula)
    assert abs(measured / simulated - 1) < 0.10, (measured, simulated)


def test_hit_cell_and_cog(physics2016, scan2016):
    a, r = physics2016
    p = get_period("2016")
    el = _beam_electrons(a, r)
    hit = (r["hit_ix"] == p.geometry.beam_cell[0]) & (r["hit_iy"] == p.geometry.beam_cell[1])
    assert hit[el].mean() > 0.97
    # the CoG of the ecal scan follows the steered cell centre
    _s, rs = scan2016
    pitch = p.geometry.ecal_cell_pitch_cm
    # (events whose in-time pulses were all replaced by a larger out-of-time pile-up shower in
    # the same cells have no hit cell)
    found = rs["hit_ix"] >= 0
    assert found.mean() > 0.9
    off_x = (rs["cog_x"] - (rs["hit_ix"] - 2.5) * pitch)[found]
    assert np.abs(off_x).max() <= pitch / 2 + 0.5
    assert np.abs(np.median(off_x)) < 0.2


def test_in_time_and_pileup(physics2016):
    a, r = physics2016
    npu = a["mc_n_pileup"]
    assert r["pileup"][npu == 0].mean() < 0.01
    # pile-up within the pulse-merging time (+-15 ns of the +-100 ns window) is merged into the
    # in-time pulse and cannot be flagged: at most ~85% of pile-up events show out-of-time energy
    assert r["pileup"][npu >= 1].mean() > 0.8
    assert np.percentile(r["ecal_out_of_time"][npu == 0], 99) == 0


def test_calibrate_detector_dead_and_window():
    cs = calibration_from_truth("2016")
    c = cs.hcal
    amp = (c.pedestal + 100.0)[None].repeat(3, axis=0).astype(np.float32)
    t = np.broadcast_to(c.t0, amp.shape).astype(np.float32).copy()
    t[1] += 50.0
    e, intime = calibrate_detector(amp, t, c, 20.0)
    dead = c.status == 1
    assert dead.any()
    assert (e[:, dead] == 0).all()
    assert not intime[:, dead].any()
    assert intime[0][~dead].all()
    assert not intime[1].any()
    assert np.allclose(e[0][~dead], 100.0 * c.gain[~dead])


def test_veto_rule():
    pmt = np.array([[1.0, 1.0, 2.0, 0.8, 1.0, 0.2], [0.0, 2.0, -1.0, -1.0, 1.0, 0.35]])
    m = veto_module_energy(pmt)
    np.testing.assert_allclose(m[0], [1.0, np.sqrt(1.6), 1.0], rtol=1e-6)  # 0.2 < 0.3: larger
    np.testing.assert_allclose(m[1], [2.0, 0.0, np.sqrt(0.35)])


def test_nan_amplitudes_flagged(caplog):
    a = _sim("2016", kind="random", events=200, seed=3)
    a = {k: np.array(v) for k, v in a.items() if k in RAW_BRANCHES or k == "run"}
    a["ecal_amp"][5, 1, 3, 3] = np.nan
    a["hcal_t"][7, 0, 1, 1] = np.inf
    with caplog.at_level(logging.WARNING, logger="na64reco.reco.calorimeters"):
        r = reconstruct_calorimeters(a, calibration_from_truth("2016"))
    assert r["bad_channels"].sum() == 2
    assert r["bad_channels"][[5, 7]].all()
    assert "non-finite" in caplog.text
    for k, v in r.items():
        if v.dtype.kind == "f":
            assert np.isfinite(v).all(), k


def test_runs_and_calibration_sets():
    a16 = _sim("2016", kind="random", events=100, seed=4)
    a22 = _sim("2022", kind="random", events=100, seed=4)
    c16, c22 = calibration_from_truth("2016"), calibration_from_truth("2022")
    with pytest.raises(CalibrationError, match=str(int(a22["run"][0]))):
        reconstruct_calorimeters(a22, c16)
    both = {k: np.concatenate([a16[k], a22[k]]) for k in a16 if not k.startswith(("mm", "st"))}
    r = reconstruct_calorimeters_db(both, CalibrationDB((c16, c22)))
    r16 = reconstruct_calorimeters(a16, c16)
    r22 = reconstruct_calorimeters(a22, c22)
    for k in ("ecal_e", "hcal_e", "hit_ix", "veto_module_e"):
        np.testing.assert_array_equal(r[k], np.concatenate([r16[k], r22[k]]))


# --- equivalence of the numba kernels with the numpy formulation --------------------------------
# Frozen copy of the numpy implementation that calorimeter_kernels replaced (issue 3,
# performance): reconstruct_calorimeters must reproduce it, exactly for integer/bool outputs and
# the trigger sums (the hardware rule), to float32 rounding for the other energies.


def _calibrate(
    amp: np.ndarray,
    t: np.ndarray,
    c: DetectorConstants,
    zs_sigmas: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(energy, pulse, |t - t0|, bad): energy 0 where dead/absent/non-finite."""
    amp = np.asarray(amp)
    t = np.asarray(t)
    if amp.shape[1:] != c.shape or t.shape != amp.shape:
        raise ValueError(
            f"amplitude shape {amp.shape} / time shape {t.shape} do not match the constants' "
            f"channel shape {c.shape}"
        )
    gain = c.gain.astype(np.float32)
    usable = c.usable
    energy = (amp - c.pedestal.astype(np.float32)) * np.where(usable, gain, np.float32(0))
    dt = np.abs(t - c.t0.astype(np.float32))
    bad = ~(np.isfinite(amp) & np.isfinite(t))
    threshold = (zs_sigmas * c.noise * gain).astype(np.float32)
    pulse = (energy > threshold) & usable
    strong = energy > (OUT_OF_TIME_SIGMAS / zs_sigmas) * threshold
    if bad.any():
        energy = np.where(bad, np.float32(0), energy)
        pulse &= ~bad
        strong &= ~bad
    return energy, pulse, dt, bad, strong & pulse


def _sum(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).sum(axis=1)


def _reference_reconstruct(
    arrays: dict,
    cset: CalibrationSet,
    windows_ns: dict[str, float] | None = None,
    zs_sigmas: float = ZS_SIGMAS,
    pileup_limit_gev: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """The numpy implementation before the numba kernels (frozen reference)."""
    windows = {**IN_TIME_WINDOW_NS, **(windows_ns or {})}
    limits = {**PILEUP_LIMIT_GEV, **(pileup_limit_gev or {})}
    period = get_period(cset.period)
    gate = period.trigger.gate_ns
    out: dict[str, np.ndarray] = {}
    n_bad = None

    def calib(det: str):
        nonlocal n_bad
        e, pulse, dt, bad, strong = _calibrate(
            arrays[f"{det}_amp"], arrays[f"{det}_t"], cset.detector(det), zs_sigmas
        )
        nb = _sum(bad).astype(np.int16)
        n_bad = nb if n_bad is None else n_bad + nb
        return e, pulse, dt, strong

    # --- ECAL -----------------------------------------------------------------------------
    e, pulse, dt, strong = calib("ecal")
    intime = pulse & (dt < windows["ecal"])
    hit = _hit_cell(np.where(intime, e, np.float32(0)).sum(axis=1))
    nx, ny = e.shape[2:]
    k = UNSUPPRESSED_HALF_WIDTH
    near = (np.abs(np.arange(nx)[None, :, None] - hit[0][:, None, None]) <= k) & (
        np.abs(np.arange(ny)[None, None, :] - hit[1][:, None, None]) <= k
    )
    quiet = ~pulse & (cset.ecal.status == STATUS_GOOD) & near[:, None]
    e_in = np.where(intime | quiet, e, np.float32(0))
    ps = _sum(e_in[:, 0])
    main = _sum(e_in[:, 1])
    out["ecal_ps"] = ps
    out["ecal_main"] = main
    out["ecal_e"] = ps + main
    out["ecal_out_of_time"] = _sum(np.where(strong & ~intime, e, np.float32(0)))
    # trigger sums: the rule of na64reco.trigger.gated_energy (every usable channel with a pulse
    # in the gate or without a pulse, no zero suppression) on the energies already at hand
    in_gate = np.where((dt < np.float32(gate)) | ~pulse, e, np.float32(0))
    out["trig_ps_e"] = _sum(in_gate[:, 0])
    out["trig_ecal_e"] = out["trig_ps_e"] + _sum(in_gate[:, 1])
    cell = e_in[:, 0] + e_in[:, 1]  # (n, nx, ny)
    out["ecal_cell_e"] = cell
    out.update(_cog(np.maximum(cell, 0), hit, period.geometry.ecal_cell_pitch_cm))

    # --- HCAL -----------------------------------------------------------------------------
    e, pulse, dt, strong = calib("hcal")
    intime = pulse & (dt < windows["hcal"])
    module = np.where(intime, e, np.float32(0)).reshape(len(e), e.shape[1], -1).sum(axis=2)
    out["hcal_module_e"] = module
    out["hcal_e"] = module.sum(axis=1)
    out["hcal_out_of_time"] = _sum(np.where(strong & ~intime, e, np.float32(0)))
    out["pileup"] = (out["ecal_out_of_time"] > limits["ecal"]) | (
        out["hcal_out_of_time"] > limits["hcal"]
    )

    # --- VETO, SRD --------------------------------------------------------------------------
    e, pulse, dt, _ = calib("veto")
    veto = veto_module_energy(np.where(pulse & (dt < windows["veto"]), e, np.float32(0)))
    out["veto_module_e"] = veto
    out["veto_e"] = veto.sum(axis=1)
    out["veto_max"] = veto.max(axis=1)
    e, pulse, dt, _ = calib("srd")
    srd = np.where(pulse & (dt < windows["srd"]), e, np.float32(0))
    out["srd_module_e"] = srd
    out["srd_e"] = srd.sum(axis=1)

    # --- beam counters ------------------------------------------------------------------------
    e, pulse, dt, _ = calib("counter")
    out["counter_e"] = np.where(pulse & (dt < windows["counter"]), e, np.float32(0))
    out["trig_counter_e"] = np.where((dt < np.float32(gate)) | ~pulse, e, np.float32(0))
    c = cset.counter
    above = (np.asarray(arrays["counter_amp"]) - c.pedestal) > cset.counter_threshold_adc
    out["counter_fired"] = above & pulse & (dt < windows["counter"])

    out["n_bad_channels"] = n_bad
    out["bad_channels"] = n_bad > 0
    if out["bad_channels"].any():
        logging.getLogger(__name__).warning(
            "%d non-finite calorimeter channel values in %d events set to no pulse",
            int(n_bad.sum()),
            int(out["bad_channels"].sum()),
        )
    return out


def _hit_cell(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ix, iy) of the cell with the largest in-time energy; -1 where there is none."""
    n, _, ny = cell.shape
    flat = cell.reshape(n, -1)
    best = flat.argmax(axis=1)
    has = flat[np.arange(n), best] > 0
    return np.where(has, best // ny, -1), np.where(has, best % ny, -1)


def _cog(cell: np.ndarray, hit, pitch_cm: float) -> dict[str, np.ndarray]:
    """Hit cell and centre of gravity of the 3x3 around it (zero padding outside)."""
    n, nx, ny = cell.shape
    ix, iy = hit
    has = ix >= 0
    pad = np.zeros((n, nx + 2, ny + 2), dtype=cell.dtype)
    pad[:, 1:-1, 1:-1] = cell
    d = np.arange(3)
    rows = np.arange(n)[:, None, None]
    jx = np.maximum(ix, 0)[:, None, None]
    jy = np.maximum(iy, 0)[:, None, None]
    win = pad[rows, jx + d[None, :, None], jy + d[None, None, :]]
    tot = win.sum(axis=(1, 2))
    safe = np.where(tot > 0, tot, 1)
    off = (d - 1).astype(cell.dtype)
    dx = (win.sum(axis=2) * off).sum(axis=1) / safe
    dy = (win.sum(axis=1) * off).sum(axis=1) / safe
    cx = (ix - (nx - 1) / 2 + dx) * pitch_cm
    cy = (iy - (ny - 1) / 2 + dy) * pitch_cm
    return {
        "hit_ix": ix.astype(np.int8),
        "hit_iy": iy.astype(np.int8),
        "cog_x": np.where(has, cx, 0).astype(np.float32),
        "cog_y": np.where(has, cy, 0).astype(np.float32),
        "ecal_3x3": win,
    }


SATURATION_KEYS = {"ecal_saturated", "hcal_saturated", "n_saturated"}  # added after the reference


def _assert_same(new, old):
    assert set(new) == set(old) | SATURATION_KEYS
    for k, v in old.items():
        assert new[k].dtype == v.dtype, k
        assert new[k].shape == v.shape, k
        if k.startswith("trig_") or v.dtype.kind != "f":
            np.testing.assert_array_equal(new[k], v, err_msg=k)
        else:
            np.testing.assert_allclose(new[k], v, rtol=2e-6, atol=1e-6, err_msg=k)


@pytest.mark.parametrize(
    ("period", "kw"),
    [
        ("2016", {"eot": 1e8, "seed": 21}),
        ("2022", {"eot": 1e8, "seed": 22}),
        ("2016", {"kind": "ecal-scan", "events": 2000, "seed": 23}),
        ("2016", {"kind": "random", "events": 500, "seed": 24}),
    ],
)
def test_kernels_equal_numpy_reference(period, kw):
    a = _sim(period, **kw)
    cs = calibration_from_truth(period)
    _assert_same(reconstruct_calorimeters(a, cs), _reference_reconstruct(a, cs))


def test_kernels_equal_numpy_reference_edge_cases():
    """Non-finite input, dead channels, events without any in-time pulse, other windows."""
    a = _sim("2016", eot=5e7, seed=25)
    a = {k: np.array(v) for k, v in a.items() if k in RAW_BRANCHES or k == "run"}
    rng = np.random.default_rng(5)
    for det in ("ecal", "hcal", "srd", "veto", "counter"):
        for what in ("amp", "t"):
            x = a[f"{det}_{what}"].reshape(len(a["run"]), -1)
            rows = rng.integers(0, len(x), 20)
            cols = rng.integers(0, x.shape[1], 20)
            x[rows, cols] = rng.choice([np.nan, np.inf, -np.inf], 20)
    a["ecal_t"][:30] += 500.0  # nothing in time: no hit cell
    cs = calibration_from_truth("2016")
    kw = {"windows_ns": {"ecal": 7.3, "counter": 3.3}, "zs_sigmas": 2.5}
    with np.errstate(invalid="ignore"):  # the reference multiplies inf by a zero gain
        old = _reference_reconstruct(a, cs, **kw)
    _assert_same(reconstruct_calorimeters(a, cs, **kw), old)


def test_energies_alone_equal_the_full_reconstruction():
    """``reconstruct_calorimeter_energies`` (what the blinded regions use, with constants other
    than the analysis's) gives the full reconstruction's ECAL/HCAL energies bit for bit: other
    gains, pedestals and t0, a dead channel, non-finite input, events with nothing in time."""
    import dataclasses

    a = _sim("2016", eot=5e7, seed=26)
    a = {k: np.array(v) for k, v in a.items() if k in RAW_BRANCHES or k == "run"}
    rng = np.random.default_rng(6)
    for key in ("ecal_amp", "ecal_t", "hcal_amp", "hcal_t"):
        x = a[key].reshape(len(a["run"]), -1)
        x[rng.integers(0, len(x), 20), rng.integers(0, x.shape[1], 20)] = np.nan
    a["ecal_t"][:30] += 500.0
    truth = calibration_from_truth("2016")

    def other(c: DetectorConstants) -> DetectorConstants:
        status = c.status.copy()
        status.reshape(-1)[3] = 1  # dead
        return dataclasses.replace(
            c,
            gain=c.gain * rng.uniform(0.9, 1.1, c.gain.shape),
            pedestal=c.pedestal + rng.normal(0.0, 1.0, c.pedestal.shape),
            t0=c.t0 + rng.normal(0.0, 2.0, c.t0.shape),
            status=status,
        )

    for cs in (truth, dataclasses.replace(truth, ecal=other(truth.ecal), hcal=other(truth.hcal))):
        full = reconstruct_calorimeters(a, cs)
        alone = reconstruct_calorimeter_energies(a, cs)
        assert set(alone) == {"ecal_e", "hcal_e", "hcal_module_e"}
        for key, value in alone.items():
            np.testing.assert_array_equal(value, full[key], err_msg=key)
    assert not np.array_equal(alone["ecal_e"], reconstruct_calorimeters(a, truth)["ecal_e"])


def test_saturated_channels_are_flagged_per_channel():
    """A usable channel at its ADC's full scale is flagged, an absent one (reads 0) never; the
    event count ``n_saturated`` is what the read-out cut rejects."""
    a = _sim("2022", kind="random", events=200, seed=31)
    a = {k: np.array(v) for k, v in a.items() if k in RAW_BRANCHES or k == "run"}
    cs = calibration_from_truth("2022")
    before = reconstruct_calorimeters(a, cs)["n_saturated"]  # a pile-up shower may saturate
    a["ecal_amp"][:50, 0, 2, 3] = 4095.0  # beam-cell PS
    a["ecal_amp"][:20, 1, 1, 1] = 4095.0
    a["hcal_amp"][:10, 0, 1, 1] = 4095.0
    a["ecal_amp"][:, 0, 0, 0] = 4094.0  # one ADC count below the full scale: not saturated
    r = reconstruct_calorimeters(a, cs)
    assert r["ecal_saturated"][:50, 0, 2, 3].all()
    assert not r["ecal_saturated"][:, 0, 0, 0].any()
    assert not r["ecal_saturated"][:, :, 5, :].any()  # absent column in 2022
    assert r["hcal_saturated"][:10, 0, 1, 1].all()
    i = np.arange(len(before))  # random triggers recorded after the dead time
    added = (i < 50).astype(int) + (i < 20) + (i < 10)
    np.testing.assert_array_equal(r["n_saturated"] - before, added)


def test_signal_showers_never_saturate():
    """The saturation cut costs no signal: A' events (2022, the largest PS gain) without
    out-of-time pile-up have no saturated channel. Only pile-up can saturate them (two pile-up
    electrons put 200 GeV into the beam cell, 3% of these events), which the pile-up part of the
    same cut rejects anyway."""
    a = _sim("2022", kind="signal", events=4000, signal_model="aprime", mass_gev=0.02, seed=32)
    r = reconstruct_calorimeters(a, calibration_from_truth("2022"))
    quiet = ~r["pileup"]
    assert quiet.sum() > 1500
    assert (r["n_saturated"][quiet] == 0).all()
    assert (r["ecal_out_of_time"][r["n_saturated"] > 0] > 2.0).all()
