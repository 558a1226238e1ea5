"""Fast simulation of raw tracker hits (na64reco.sim.tracker)."""

from __future__ import annotations

import dataclasses
import time

import awkward as ak
import numpy as np
import pytest

from na64reco.conditions.beamline import deflection_rad, nominal_kick_point, nominal_x_cm
from na64reco.conditions.periods import get_period
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.eventtree.contract import JAGGED_BRANCHES
from na64reco.sim.tracker import (
    READOUT_WINDOW_NS,
    TrackSegments,
    beam_segments,
    secondary_segments,
    simulate_tracker_hits,
)

PERIOD = "2018"
GEOM = get_period(PERIOD).geometry
CAL = true_calibration(PERIOD)
N_MM = len(GEOM.mm_stations)
N_ST = len(GEOM.straw_stations)


def _quiet(geometry=GEOM):
    """The geometry without noise hits."""
    return dataclasses.replace(
        geometry,
        mm_stations=tuple(
            dataclasses.replace(s, noise_hits_mean=0.0) for s in geometry.mm_stations
        ),
        straw_stations=tuple(
            dataclasses.replace(s, noise_hits_mean=0.0) for s in geometry.straw_stations
        ),
    )


def _simulate(rng, geometry, n, segments):
    return simulate_tracker_hits(
        rng,
        geometry,
        n,
        segments,
        CAL["mm"]["t0"],
        CAL["straw"]["t0"],
        CAL["straw"]["drift_max_ns"],
    )


def _beam(rng, geometry, n, spread=0.01, spot_cm=0.6, divergence=1e-4, **kw):
    xk, yk, sx = nominal_kick_point(geometry)
    p = 100.0 * (1.0 + spread * rng.standard_normal(n))
    return beam_segments(
        geometry,
        np.arange(n),
        xk + spot_cm * rng.standard_normal(n),
        yk + spot_cm * rng.standard_normal(n),
        sx + divergence * rng.standard_normal(n),
        divergence * rng.standard_normal(n),
        p,
        **kw,
    )


def _flat(arr):
    """Flat numpy columns of a jagged record array plus the event index of each hit."""
    out = {f: ak.to_numpy(ak.flatten(arr[f])) for f in arr.fields}
    out["event"] = np.repeat(np.arange(len(arr)), ak.to_numpy(ak.num(arr)))
    return out


def test_shapes_dtypes_and_order():
    rng = np.random.default_rng(3)
    n = 500
    seg = _beam(rng, GEOM, n).select(np.arange(n) % 5 != 0)  # every 5th event has no track
    mm, st = _simulate(rng, _quiet(), n, seg)
    assert len(mm) == n
    assert len(st) == n
    dtypes = {b.name: b.dtype for b in JAGGED_BRANCHES}
    for prefix, arr in (("mm", mm), ("st", st)):
        expected = [b.field for b in JAGGED_BRANCHES if b.collection == prefix]
        assert arr.fields == expected
        for f in arr.fields:
            assert ak.flatten(arr[f]).type.content.primitive == str(dtypes[f"{prefix}_{f}"])
            assert ak.to_numpy(ak.flatten(arr[f])).dtype == dtypes[f"{prefix}_{f}"]
    # events without a track and without noise are empty
    assert np.all(ak.to_numpy(ak.num(mm))[::5] == 0)
    assert np.all(ak.to_numpy(ak.num(st))[::5] == 0)
    assert np.all(ak.to_numpy(ak.num(mm))[1::5] > 0)
    # sorted by (station, plane, channel) within each event
    for arr, ch in ((mm, "strip"), (st, "wire")):
        f = _flat(arr)
        key = (
            f["event"] * 2**20
            + f["station"].astype(np.int64) * 2**17
            + f["plane"].astype(np.int64) * 2**16
            + f[ch]
        )
        assert np.all(np.diff(key) >= 0)
    assert ak.max(mm.station) < N_MM
    assert ak.max(st.station) < N_ST
    assert ak.max(mm.strip) < GEOM.mm_stations[0].n_channels


def test_no_segments_and_empty_output():
    rng = np.random.default_rng(0)
    empty = TrackSegments(*(np.zeros(0),) * 9)
    mm, st = _simulate(rng, _quiet(), 7, empty)
    assert len(mm) == 7
    assert ak.sum(ak.num(mm)) == 0
    assert ak.sum(ak.num(st)) == 0
    assert ak.to_numpy(ak.flatten(mm.strip)).dtype == np.uint16


def test_acceptance_far_outside_leaves_no_hit():
    rng = np.random.default_rng(4)
    n = 2000
    xk, yk, sx = nominal_kick_point(GEOM)
    # 1.5 m off in x (straw planes are 1.2 m wide, MM 8 cm)
    far = beam_segments(GEOM, np.arange(n), xk + 150.0, yk, sx, 0.0, 100.0)
    mm, st = _simulate(rng, _quiet(), n, far)
    assert ak.sum(ak.num(mm)) == 0
    assert ak.sum(ak.num(st)) == 0
    # 10 cm off in y: outside the MMs (+-4 cm) but inside the straws (+-60 cm)
    mid = beam_segments(GEOM, np.arange(n), xk, yk + 10.0, sx, 0.0, 100.0)
    mm, st = _simulate(rng, _quiet(), n, mid)
    assert ak.sum(ak.num(mm)) == 0
    assert ak.sum(ak.num(st)) > 0.9 * n * N_ST * 2


def test_efficiency_per_plane():
    rng = np.random.default_rng(5)
    n = 20000
    mm, st = _simulate(rng, _quiet(), n, _beam(rng, GEOM, n, spot_cm=0.3))
    for arr, stations in ((mm, GEOM.mm_stations), (st, GEOM.straw_stations)):
        f = _flat(arr)
        planes = np.unique(f["event"] * 64 + f["station"].astype(np.int64) * 2 + f["plane"])
        frac = len(planes) / (n * len(stations) * 2)
        eff = np.mean([s.efficiency for s in stations])
        assert frac == pytest.approx(eff, abs=0.005)


def test_cluster_sizes_and_amplitudes():
    rng = np.random.default_rng(6)
    n = 5000
    mm, st = _simulate(rng, _quiet(), n, _beam(rng, GEOM, n))
    f = _flat(mm)
    key = f["event"] * 64 + f["station"].astype(np.int64) * 2 + f["plane"]
    _, inv, size = np.unique(key, return_inverse=True, return_counts=True)
    assert set(np.unique(size)) <= {1, 2, 3}
    assert np.mean(size >= 2) > 0.3  # charge sharing gives multi-strip clusters
    # adjacent strips: span = size - 1
    smin = np.full(len(size), 1 << 20)
    smax = np.zeros(len(size), dtype=np.int64)
    np.minimum.at(smin, inv, f["strip"].astype(np.int64))
    np.maximum.at(smax, inv, f["strip"].astype(np.int64))
    assert np.all(smax - smin == size - 1)
    charge = np.bincount(inv, f["amp"].astype(float))
    assert 90 < np.median(charge) < 130  # Landau-like around 100 ADC
    assert np.mean(charge) > np.median(charge)  # long upper tail
    # straws: one wire per particle per plane, sometimes two adjacent ones (~10%)
    g = _flat(st)
    skey = g["event"] * 64 + g["station"].astype(np.int64) * 2 + g["plane"]
    _, ssize = np.unique(skey, return_counts=True)
    assert set(np.unique(ssize)) <= {1, 2}
    assert 0.06 < np.mean(ssize == 2) < 0.14


def test_noise_rate_and_shape():
    rng = np.random.default_rng(7)
    n = 20000
    empty = TrackSegments(*(np.zeros(0),) * 9)
    mm, st = _simulate(rng, GEOM, n, empty)
    for arr, stations in ((mm, GEOM.mm_stations), (st, GEOM.straw_stations)):
        expected = sum(s.noise_hits_mean for s in stations) * 2 * n
        got = ak.sum(ak.num(arr))
        assert got == pytest.approx(expected, rel=5 * np.sqrt(expected) / expected)
        t = ak.to_numpy(ak.flatten(arr.t))
        assert t.min() >= READOUT_WINDOW_NS[0]
        assert t.max() <= READOUT_WINDOW_NS[1]
        assert abs(np.mean(t) - np.mean(READOUT_WINDOW_NS)) < 3.0
    assert np.median(ak.to_numpy(ak.flatten(mm.amp))) < 20.0  # small amplitudes
    # uniform over the channels
    strips = ak.to_numpy(ak.flatten(mm.strip))
    assert abs(np.mean(strips) - GEOM.mm_stations[0].n_channels / 2) < 5.0


def test_time_offsets_and_pileup():
    rng = np.random.default_rng(8)
    n = 5000
    seg = _beam(rng, GEOM, n)
    pile = dataclasses.replace(seg, t_ns=np.full(n, 37.0))
    for s, dt in ((seg, 0.0), (pile, 37.0)):
        mm, st = _simulate(rng, _quiet(), n, s)
        f = _flat(mm)
        for i in range(N_MM):
            t = f["t"][f["station"] == i]
            sigma = GEOM.mm_stations[i].time_sigma_ns
            assert np.median(t) == pytest.approx(CAL["mm"]["t0"][i] + dt, abs=0.3)
            assert np.std(t) == pytest.approx(sigma, rel=0.1)
        g = _flat(st)
        for i in range(N_ST):
            t = g["t"][g["station"] == i] - CAL["straw"]["t0"][i] - dt
            drift = CAL["straw"]["drift_max_ns"][i]
            # drift uniform in [0, drift_max] (+ jitter; second wires sit at drift_max)
            # (the ~10% second wires at drift_max pull the median up by ~3 ns)
            assert np.median(t) == pytest.approx(drift / 2, abs=5.0)
            assert np.percentile(t, 5) < 0.15 * drift
            assert np.percentile(t, 95) > 0.85 * drift


def test_deterministic_with_seed():
    def run(seed):
        rng = np.random.default_rng(seed)
        n = 1000
        seg = TrackSegments.concatenate(
            _beam(rng, GEOM, n),
            secondary_segments(rng, GEOM, np.arange(0, n, 3), 1.0, 3.0, 0.1, min_angle_rad=0.02),
        )
        return _simulate(rng, GEOM, n, seg)

    a, b, c = run(11), run(11), run(12)
    for x, y in zip(a, b, strict=True):
        assert ak.array_equal(x, y)
        assert ak.to_list(x[:50]) == ak.to_list(y[:50])
    assert not ak.array_equal(a[0], c[0])


def test_secondaries_only_downstream_of_their_origin():
    rng = np.random.default_rng(9)
    n = 5000
    z_int = 10.0
    sec = secondary_segments(
        rng, GEOM, np.arange(n), z_int, rng.uniform(1.0, 10.0, n), 0.1, min_angle_rad=0.02
    )
    assert np.all(sec.z_start_m == z_int)
    mm, st = _simulate(rng, _quiet(), n, sec)
    f, g = _flat(mm), _flat(st)
    mm_z = np.array([s.z_m for s in GEOM.mm_stations])
    st_z = np.array([s.z_m for s in GEOM.straw_stations])
    assert np.all(mm_z[f["station"]] >= z_int)
    assert np.all(st_z[g["station"]] >= z_int)
    # large-angle secondaries miss the narrow MMs mostly but the wide straws see them
    assert len(np.unique(g["event"])) > 0.5 * n
    assert len(np.unique(f["event"])) < 0.2 * n
    # a beam particle stopping before MM5 leaves nothing downstream
    beam = _beam(rng, GEOM, n, z_end_m=6.0)
    mm, st = _simulate(rng, _quiet(), n, beam)
    assert np.all(mm_z[_flat(mm)["station"]] <= 6.0)
    assert np.all(st_z[_flat(st)["station"]] <= 6.0)


def test_secondary_vertex_is_on_the_track():
    rng = np.random.default_rng(10)
    from na64reco.conditions.beamline import position_at

    for z_int in (-5.0, 1.0, 4.0, 12.0):
        sec = secondary_segments(
            rng,
            GEOM,
            np.arange(100),
            z_int,
            5.0,
            0.1,
            x_int_cm=1.5,
            y_int_cm=-2.0,
            charge_sign=rng.choice([-1.0, 1.0], 100),
        )
        x, y = position_at(
            GEOM,
            z_int,
            sec.x_kick_cm,
            sec.y_kick_cm,
            sec.slope_x_up,
            sec.slope_y,
            sec.p_at_magnet_gev,
        )
        np.testing.assert_allclose(x, 1.5, atol=1e-9)
        np.testing.assert_allclose(y, -2.0, atol=1e-9)


def _mm_line_residual(rng, p_gev, n=4000):
    """Spread (mm) of x(MM6) - (x(MM5) + x(MM7)) / 2 for tracks starting after the magnets."""
    geom = _quiet()
    xk, yk, sx = nominal_kick_point(geom)
    seg = beam_segments(
        geom,
        np.arange(n),
        xk,
        yk,
        sx + deflection_rad(geom, p_gev) - deflection_rad(geom, 100.0),
        0.0,
        p_gev,
    )
    seg = dataclasses.replace(seg, z_start_m=np.full(n, 10.0))
    mm, _ = _simulate(rng, geom, n, seg)
    f = _flat(mm)
    sel = (f["plane"] == 0) & (f["station"] >= 4) & (f["station"] <= 6)
    idx = f["event"][sel] * 3 + f["station"][sel] - 4
    cnt = np.bincount(idx, minlength=3 * n).reshape(n, 3)
    mean = np.bincount(idx, f["strip"][sel].astype(float), 3 * n).reshape(n, 3) / np.maximum(cnt, 1)
    ok = (cnt > 0).all(axis=1)
    r = (mean[:, 1] - 0.5 * (mean[:, 0] + mean[:, 2]))[ok] * geom.mm_stations[0].pitch_mm
    return np.std(r)


def test_multiple_scattering_grows_at_low_momentum():
    rng = np.random.default_rng(13)
    hi = _mm_line_residual(rng, 100.0)
    lo = _mm_line_residual(rng, 1.0)
    # the kick at MM5 cancels in x6 - (x5 + x7) / 2; the one at MM6 moves x7 by theta0 * 0.7 m:
    # 1 GeV: theta0 = 13.6 MeV / 1 GeV * sqrt(0.003) = 0.74 mrad -> 0.26 mm residual
    theta0 = 13.6e-3 / 1.0 * np.sqrt(GEOM.mm_stations[5].x_over_x0)
    expected = 0.5 * theta0 * 700.0
    assert hi < 0.15
    assert lo == pytest.approx(np.hypot(hi, expected), rel=0.15)


def test_momentum_resolution_design_goal():
    """Strip centres of MM1-MM2 and MM3-MM4 + theta = 0.3 B L / p give dp/p ~ 1%, no bias."""
    rng = np.random.default_rng(2024)
    geom = _quiet()
    n = 20000
    seg = _beam(rng, geom, n, spread=0.01)
    mm, _ = _simulate(rng, geom, n, seg)
    f = _flat(mm)
    sel = (f["plane"] == 0) & (f["station"] < 4)
    idx = f["event"][sel] * 4 + f["station"][sel]
    cnt = np.bincount(idx, minlength=4 * n).reshape(n, 4)
    strip = np.bincount(idx, f["strip"][sel].astype(float), 4 * n).reshape(n, 4)
    centre = strip / np.maximum(cnt, 1)  # mean of the cluster's strip centres
    ok = (cnt > 0).all(axis=1)
    st = geom.mm_stations[0]
    z = np.array([s.z_m for s in geom.mm_stations[:4]])
    x_m = (centre + 0.5 - st.n_channels / 2) * st.pitch_mm * 1e-3 + nominal_x_cm(geom, z) * 1e-2
    slope_up = (x_m[:, 1] - x_m[:, 0]) / (z[1] - z[0])
    slope_down = (x_m[:, 3] - x_m[:, 2]) / (z[3] - z[2])
    p_meas = deflection_rad(geom, 1.0) / (slope_up - slope_down)
    r = (p_meas / seg.p_at_magnet_gev - 1.0)[ok]
    resolution = np.std(r)
    bias = np.median(r)
    print(f"momentum resolution {resolution:.4f}, bias {bias:+.5f}, tracks {ok.sum()}")
    assert 0.005 < resolution < 0.02
    assert abs(bias) < 0.003


def test_vectorised_speed():
    rng = np.random.default_rng(1)
    n = 100_000
    seg = _beam(rng, GEOM, n)
    _simulate(rng, GEOM, 100, seg.select(np.arange(100)))  # warm up
    t0 = time.perf_counter()
    mm, st = _simulate(rng, GEOM, n, seg)
    elapsed = time.perf_counter() - t0
    print(
        f"1e5 events: {elapsed:.2f} s, {ak.sum(ak.num(mm))} MM and {ak.sum(ak.num(st))} straw hits"
    )
    assert len(mm) == n
    assert elapsed < 2.0
