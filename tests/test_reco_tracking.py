"""Tracking: MM clusters, segments, momentum and hit multiplicities (na64reco.reco.tracking)."""

from __future__ import annotations

import dataclasses

import awkward as ak
import numpy as np
import pytest

from na64reco.calibration.truth import calibration_from_truth
from na64reco.conditions.beamline import nominal_kick_point, nominal_x_cm, position_at
from na64reco.conditions.periods import get_period
from na64reco.conditions.processes import PROCESS_IDS
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.reco.tracking import (
    STATUS_NO_DOWNSTREAM_X,
    STATUS_NO_MM_CLUSTERS,
    STATUS_NO_UPSTREAM_X,
    STATUS_OK,
    STATUS_P_INVALID,
    cluster_mm,
    reconstruct_tracks,
)
from na64reco.sim.run import SimRequest, generate_run, plan_runs
from na64reco.sim.tracker import beam_segments, simulate_tracker_hits

PERIOD = "2016"
GEOM = get_period(PERIOD).geometry
CSET = calibration_from_truth(PERIOD)
TRUE = true_calibration(PERIOD)
N_MM = len(GEOM.mm_stations)
N_ST = len(GEOM.straw_stations)


@pytest.fixture(scope="module")
def run():
    """One simulated physics run (~7000 recorded events) and its tracks."""
    req = SimRequest(period=PERIOD, eot=2e8, seed=1)
    arrays, _ = generate_run(req, plan_runs(req)[0])
    tracks = reconstruct_tracks(arrays["mm"], arrays["st"], CSET, GEOM)
    truth = {
        k: ak.to_numpy(arrays[k])
        for k in ("mc_process", "mc_beam_energy", "mc_n_extra_charged", "mc_n_pileup", "trigger")
    }
    return arrays, tracks, truth


def _quiet():
    """The geometry without noise hits."""
    return dataclasses.replace(
        GEOM,
        mm_stations=tuple(dataclasses.replace(s, noise_hits_mean=0.0) for s in GEOM.mm_stations),
        straw_stations=tuple(
            dataclasses.replace(s, noise_hits_mean=0.0) for s in GEOM.straw_stations
        ),
    )


def _beam(rng, n, event=None, p=None, t_ns=0.0):
    xk, yk, sx = nominal_kick_point(GEOM)
    p = 100.0 * (1.0 + 0.01 * rng.standard_normal(n)) if p is None else p
    return beam_segments(
        GEOM,
        np.arange(n) if event is None else event,
        xk + 0.6 * rng.standard_normal(n),
        yk + 0.6 * rng.standard_normal(n),
        sx + 1e-4 * rng.standard_normal(n),
        1e-4 * rng.standard_normal(n),
        p,
        t_ns=t_ns,
    )


def _hits(rng, geometry, n, segments):
    return simulate_tracker_hits(
        rng,
        geometry,
        n,
        segments,
        TRUE["mm"]["t0"],
        TRUE["straw"]["t0"],
        TRUE["straw"]["drift_max_ns"],
    )


def _records(events, fields):
    """A jagged record array from per-event lists of tuples (contract field order)."""
    return ak.Array([[dict(zip(fields, h, strict=True)) for h in ev] for ev in events])


MM_FIELDS = ("station", "plane", "strip", "amp", "t")
ST_FIELDS = ("station", "plane", "wire", "t")


def test_keys_shapes_and_dtypes(run):
    arrays, tracks, _ = run
    n = len(arrays["mm"])
    for key, value in tracks.items():
        assert isinstance(value, np.ndarray), key
        assert value.shape[0] == n, key
    assert tracks["n_mm_clusters"].shape == (n, N_MM, 2)
    assert tracks["n_straw"].shape == (n, N_ST, 2)
    assert np.array_equal(tracks["n_straw_total"], tracks["n_straw"].sum(axis=(1, 2)))
    up = tracks["n_mm_clusters"][:, :2].sum(axis=(1, 2))
    assert np.array_equal(tracks["n_mm_upstream"], up)
    assert np.all(tracks["n_mm_extra_upstream"] >= 0)
    assert np.all(tracks["n_mm_extra_downstream"] >= 0)
    assert np.all(tracks["n_straw_extra"] >= 0)
    assert np.all(tracks["n_straw_extra"] <= tracks["n_straw_total"])
    finite = np.isfinite(tracks["p_gev"])
    assert np.array_equal(finite, (tracks["status"] & STATUS_P_INVALID) == 0)


def test_clusters_charge_weighted_split_in_time():
    t0 = float(CSET.mm_t0[0])
    ev = [
        (0, 0, 100, 10.0, t0),
        (0, 0, 101, 20.0, t0 + 1),
        (0, 0, 102, 10.0, t0 - 1),
        (0, 0, 103, 50.0, t0 + 80),  # neighbour, but another particle's time: split
        (0, 0, 200, 40.0, t0 + 40),  # isolated, out of time
        (0, 1, 10, 12.0, t0),  # low charge: noise-like, not counted
    ]
    cl = cluster_mm(_records([ev, []], MM_FIELDS), CSET, GEOM)
    assert ak.num(cl).tolist() == [4, 0]
    c = cl[0]
    assert c.size.tolist() == [3, 1, 1, 1]
    pitch, n = GEOM.mm_stations[0].pitch_mm, GEOM.mm_stations[0].n_channels
    assert c.u_mm[0] == pytest.approx((101 + 0.5 - n / 2) * pitch)
    assert c.charge[0] == pytest.approx(40.0)
    assert c.pos_cm[0] == pytest.approx(
        nominal_x_cm(GEOM, GEOM.mm_stations[0].z_m) + c.u_mm[0] / 10
    )
    assert c.in_time.tolist() == [True, False, False, False]


def test_momentum_resolution_and_bias(run):
    _, tracks, truth = run
    # beam e- of physics-trigger processes: mc_beam_energy is the momentum through the magnets
    ele = np.isin(
        truth["mc_process"], [PROCESS_IDS["hadron_electroproduction"], PROCESS_IDS["dimuon"]]
    )
    ok = ele & (tracks["status"] & STATUS_P_INVALID == 0) & (truth["mc_beam_energy"] > 90)
    assert ok.sum() > 0.8 * ele.sum()
    rel = tracks["p_gev"][ok] / truth["mc_beam_energy"][ok] - 1.0
    core = np.abs(rel) < 0.05
    sigma, bias = np.std(rel[core]), np.mean(rel[core])
    print(f"dp/p = {sigma:.4f}, bias {bias:+.5f}, {ok.sum()} tracks, {1 - core.mean():.4f} tails")
    assert 0.005 < sigma < 0.015
    assert abs(bias) < 0.002
    assert core.mean() > 0.99
    # beam triggers: p spread = resolution (+) 1% beam momentum spread around the nominal 100 GeV,
    # and against each electron's true momentum the resolution alone
    beam = (truth["trigger"] == 2) & (truth["mc_process"] == PROCESS_IDS["em_shower"])
    beam &= np.isfinite(tracks["p_gev"]) & (truth["mc_beam_energy"] > 90)
    spread = np.std(np.clip(tracks["p_gev"][beam] / 100.0 - 1.0, -0.05, 0.05))
    assert spread == pytest.approx(np.hypot(sigma, 0.01), rel=0.15)
    rel_beam = np.clip(tracks["p_gev"][beam] / truth["mc_beam_energy"][beam] - 1.0, -0.05, 0.05)
    assert np.std(rel_beam) == pytest.approx(sigma, rel=0.25)


def test_low_energy_tail_electrons(run):
    _, tracks, truth = run
    tail = truth["mc_process"] == PROCESS_IDS["low_energy_electron"]
    ok = tail & np.isfinite(tracks["p_gev"])
    assert tail.sum() > 50
    assert ok.sum() > 0.8 * tail.sum()
    assert np.all(truth["mc_beam_energy"][ok] < 90)
    assert np.quantile(tracks["p_gev"][ok], 0.99) < 90.0
    rel = tracks["p_gev"][ok] / truth["mc_beam_energy"][ok] - 1.0
    assert np.median(np.abs(rel)) < 0.01


def test_extra_hits_of_upstream_interactions(run):
    _, tracks, truth = run
    extra = (
        (tracks["n_mm_extra_upstream"] > 0)
        | (tracks["n_mm_extra_downstream"] > 1)
        | (tracks["n_straw_extra"] > 0)
    )
    up = (truth["mc_process"] == PROCESS_IDS["upstream_interaction"]) & (
        truth["mc_n_extra_charged"] > 0
    )
    beam = (truth["mc_process"] == PROCESS_IDS["hadron_electroproduction"]) & (
        truth["mc_n_extra_charged"] == 0
    )
    f_up, f_beam = extra[up].mean(), extra[beam].mean()
    print(f"events with extra hits: upstream interactions {f_up:.3f}, beam e- {f_beam:.3f}")
    assert up.sum() > 100
    assert f_up > 0.6
    assert f_up > 4 * f_beam
    # beam electrons: one cluster per plane, the paper-000 MM cut keeps almost all of them
    mm_cut = (tracks["n_mm_extra_upstream"] == 0) & (tracks["n_mm_extra_downstream"] <= 1)
    assert mm_cut[beam & (truth["mc_n_pileup"] == 0)].mean() > 0.97


def test_pileup_out_of_time_is_not_counted():
    rng = np.random.default_rng(11)
    n = 3000
    geom = _quiet()
    third = n // 3
    # every event has an in-time beam e-; events 1000-1999 a pile-up e- 100 ns early, events
    # 2000-2999 one 2 ns late (in time)
    seg = _beam(rng, n)
    late = _beam(rng, third, event=np.arange(2 * third, n), t_ns=2.0)
    early = _beam(rng, third, event=np.arange(third, 2 * third), t_ns=-100.0)
    mm, st = _hits(rng, geom, n, seg.concatenate(seg, early, late))
    tr = reconstruct_tracks(mm, st, CSET, geom)
    clean, out, inn = slice(0, third), slice(third, 2 * third), slice(2 * third, n)
    for key in ("n_mm_upstream", "n_mm_downstream", "n_mm_extra_upstream"):
        assert tr[key][out].mean() == pytest.approx(tr[key][clean].mean(), abs=0.05), key
    assert np.all(tr["n_mm_extra_upstream"][out] == 0)
    assert np.all(tr["n_mm_extra_downstream"][out] == 0)
    assert tr["n_straw_extra"][out].mean() < 0.02
    assert ak.mean(ak.num(mm[out])) > 1.8 * ak.mean(ak.num(mm[clean]))  # the hits are there
    assert (tr["n_mm_extra_upstream"][inn] > 0).mean() > 0.9
    assert (tr["n_straw_extra"][inn] > 0).mean() > 0.9
    # the momentum of the in-time track is measured as without the pile-up
    assert np.isfinite(tr["p_gev"][out]).mean() > 0.85


def test_quiet_beam_tracks_and_ecal_extrapolation():
    rng = np.random.default_rng(5)
    n = 5000
    geom = _quiet()
    seg = _beam(rng, n)
    mm, st = _hits(rng, geom, n, seg)
    tr = reconstruct_tracks(mm, st, CSET, geom)
    ok = tr["status"] == STATUS_OK
    assert ok.mean() == pytest.approx(
        np.prod([s.efficiency**2 for s in geom.mm_stations[:4]]), abs=0.03
    )
    rel = tr["p_gev"][ok] / seg.p_at_magnet_gev[ok] - 1.0
    assert np.std(rel) < 0.012
    x, y = position_at(
        geom,
        geom.ecal_z_m,
        seg.x_kick_cm,
        seg.y_kick_cm,
        seg.slope_x_up,
        seg.slope_y,
        seg.p_at_magnet_gev,
    )
    assert np.std(tr["ecal_x_cm"][ok] - x[ok]) < 0.3
    assert np.std(tr["ecal_y_cm"][ok] - y[ok]) < 0.3
    assert np.std(tr["slope_x_up"][ok] - seg.slope_x_up[ok]) < 3e-4
    assert np.all(tr["n_mm_extra_upstream"] == 0)
    assert np.all(tr["n_mm_extra_downstream"] == 0)
    assert np.mean(tr["n_straw_extra"]) < 0.01


def test_segment_choice_with_noise_clusters():
    """A noise cluster far from the beam in MM2 x does not spoil the upstream segment."""
    rng = np.random.default_rng(8)
    n = 2000
    geom = _quiet()
    seg = _beam(rng, n)
    mm, st = _hits(rng, geom, n, seg)
    ref = reconstruct_tracks(mm, st, CSET, geom)
    t0 = float(CSET.mm_t0[1])
    noise = _records([[(1, 0, 40, 80.0, t0)]] * n, MM_FIELDS)
    both = ak.concatenate([mm, noise], axis=1)
    sort = ak.argsort(both.station * 1000 + both.plane * 500 + both.strip, axis=1, stable=True)
    tr = reconstruct_tracks(both[sort], st, CSET, geom)
    ok = np.isfinite(ref["p_gev"])
    np.testing.assert_allclose(tr["p_gev"][ok], ref["p_gev"][ok])
    assert np.all(tr["n_mm_extra_upstream"][ok] == ref["n_mm_extra_upstream"][ok] + 1)


def test_empty_and_hitless_events_never_raise():
    # no events at all
    tr = reconstruct_tracks(ak.Array([]), ak.Array([]), CSET, GEOM)
    assert len(tr["p_gev"]) == 0
    assert tr["n_straw"].shape == (0, N_ST, 2)
    # events without hits (untyped empty lists) and events with only out-of-time hits
    t0 = float(CSET.mm_t0[0])
    mm = _records([[], [(0, 0, 160, 90.0, t0 + 60)], [(0, 0, 160, 90.0, t0)]], MM_FIELDS)
    st = _records([[], [], [(0, 0, 100, 0.0)]], ST_FIELDS)
    tr = reconstruct_tracks(mm, st, CSET, GEOM)
    assert np.all(np.isnan(tr["p_gev"]))
    assert np.all(np.isnan(tr["ecal_x_cm"]))
    assert tr["status"][0] & STATUS_NO_MM_CLUSTERS
    assert tr["status"][1] & STATUS_NO_MM_CLUSTERS
    assert not tr["status"][2] & STATUS_NO_MM_CLUSTERS
    assert tr["status"][2] & STATUS_NO_UPSTREAM_X
    assert tr["status"][2] & STATUS_NO_DOWNSTREAM_X
    assert tr["n_mm_upstream"].tolist() == [0, 0, 1]
    assert tr["n_mm_extra_upstream"].tolist() == [0, 0, 0]  # near the beam: the track's
    tr = reconstruct_tracks(ak.Array([[], []]), ak.Array([[], []]), CSET, GEOM)
    assert np.all(np.isnan(tr["p_gev"]))
    assert np.all(tr["n_mm_upstream"] == 0)
    with pytest.raises(ValueError, match="events"):
        reconstruct_tracks(ak.Array([[]]), ak.Array([[], []]), CSET, GEOM)
