"""Raw tracker hits (Micromegas and straw tubes) from charged-particle track segments.

Vectorised over segments: the only Python loop is over the ~9 stations (in z order, so that
multiple-scattering kicks accumulate downstream). Each segment follows the thin-lens track model
of :mod:`na64reco.conditions.beamline` plus the multiple-scattering offsets it picks up in the
stations it crosses. Stations' channels are centred on the nominal trajectory at their z.

Output: per-event jagged records with the contract dtypes (``mm``: station, plane, strip, amp, t;
``st``: station, plane, wire, t), hits sorted by (station, plane, channel) within each event.
Station indices are the positions in ``geometry.mm_stations`` / ``geometry.straw_stations``.

Geometry, efficiencies, noise rates and time resolutions come from the conditions
(:mod:`na64reco.conditions.periods`); the time offsets from the (true) calibration. The
electronics-shape numbers below are this module's own [choose] values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import awkward as ak
import numpy as np
from scipy.special import ndtr

from na64reco.conditions.beamline import deflection_rad, nominal_x_cm, nominal_y_cm, position_at
from na64reco.conditions.periods import Geometry, TrackerStation
from na64reco.eventtree.contract import JAGGED_BRANCHES

# --- [choose] constants --------------------------------------------------------------------------
# Multiple scattering: theta0 = MS_CONSTANT_GEV / p * sqrt(x/X0) per plane projection (the PDG
# Highland formula without its log term, as the issue asks), x/X0 of each station from the
# conditions (``TrackerStation.x_over_x0``: 0.3% MM, 0.4% straws [choose]).
MS_CONSTANT_GEV = 13.6e-3

# MM charge sharing: the avalanche charge spreads over the strips as a Gaussian of this width
# around the crossing point [choose; 0.1 mm with 0.25 mm pitch gives clusters of 1-3 strips].
MM_CHARGE_SIGMA_MM = 0.10
# Intrinsic smearing of the charge centre (ionisation clusters spread over the drift gap, avalanche
# fluctuations) [choose]: with the strip noise below, the charge-weighted centroid resolves
# ~60 um, the plain mean of the strip centres ~pitch/sqrt(12).
MM_INTRINSIC_SIGMA_MM = 0.05
# Electronics noise added to each strip amplitude of a cluster, ADC [choose].
MM_STRIP_NOISE_ADC = 3.0
# Strips |k| <= MM_CLUSTER_HALF_WIDTH around the central one may fire (clusters of 1-3 strips).
MM_CLUSTER_HALF_WIDTH = 1
# Cluster charge: Landau-like (Moyal) with this most probable value and width, in ADC [choose].
MM_CHARGE_MPV_ADC = 100.0
MM_CHARGE_WIDTH_ADC = 15.0
# Charges are clipped to [MM_CHARGE_MIN_ADC, MM_ADC_MAX] (a 12-bit ADC saturates) [choose].
MM_CHARGE_MIN_ADC = 30.0
MM_ADC_MAX = 4095.0
# A neighbour strip fires when its share of the charge is above this threshold [choose]; the
# central strip always fires (its share is >= ~40% of a charge >= MM_CHARGE_MIN_ADC).
MM_STRIP_THRESHOLD_ADC = 8.0
# Noise hits: amplitude = threshold + exponential of this mean [choose], i.e. small.
MM_NOISE_AMP_MEAN_ADC = 6.0

# Straws: a track passing within this fraction of the tube diameter from the wall (on either side)
# also fires the neighbouring tube: 2 x 0.05 -> ~10% of tracks give 2 wires [choose].
STRAW_WALL_FRACTION = 0.05

# Read-out window for noise hits (uniform in time), ns relative to the trigger [choose].
READOUT_WINDOW_NS = (-100.0, 100.0)

# Planes: 0 = x, 1 = y (event-tree contract).
PLANE_X, PLANE_Y = 0, 1

_DTYPES = {b.name: b.dtype for b in JAGGED_BRANCHES}


@dataclass(frozen=True)
class TrackSegments:
    """Charged-particle track segments, equal-length 1-d arrays (several per event allowed).

    The trajectory is the beamline thin-lens model
    (:func:`na64reco.conditions.beamline.position_at`): position at the kick plane (cm), x slope
    upstream of the kick, y slope, and the momentum at the magnet (GeV; *signed*: positive bends
    like the beam e-, negative the other way). The
    particle exists only for ``z_start_m <= z <= z_end_m``; ``t_ns`` is its time relative to the
    trigger (0 in time, other values for pile-up).
    """

    event: np.ndarray
    x_kick_cm: np.ndarray
    y_kick_cm: np.ndarray
    slope_x_up: np.ndarray
    slope_y: np.ndarray
    p_at_magnet_gev: np.ndarray
    z_start_m: np.ndarray
    z_end_m: np.ndarray
    t_ns: np.ndarray

    def __post_init__(self):
        for f in fields(self):
            dtype = np.int64 if f.name == "event" else np.float64
            arr = np.atleast_1d(np.asarray(getattr(self, f.name), dtype=dtype))
            if arr.ndim != 1:
                raise ValueError(f"TrackSegments.{f.name} must be 1-d, got shape {arr.shape}")
            object.__setattr__(self, f.name, arr)
        # broadcast length-1 arrays to the common length
        n = max(len(getattr(self, f.name)) for f in fields(self))
        for f in fields(self):
            arr = getattr(self, f.name)
            if len(arr) == 1 and n != 1:
                object.__setattr__(self, f.name, np.repeat(arr, n))
            elif len(arr) != n:
                raise ValueError(f"TrackSegments.{f.name} has length {len(arr)}, expected {n}")

    def __len__(self) -> int:
        return len(self.event)

    @staticmethod
    def concatenate(*parts: TrackSegments) -> TrackSegments:
        """All segments of several collections in one."""
        return TrackSegments(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(parts[0])
            }
        )

    def select(self, mask) -> TrackSegments:
        """The segments where ``mask`` (boolean or index array) selects."""
        return TrackSegments(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def beam_segments(
    geometry: Geometry,
    event,
    x_kick_cm,
    y_kick_cm,
    slope_x_up,
    slope_y,
    p_at_magnet_gev,
    t_ns=0.0,
    z_end_m=None,
) -> TrackSegments:
    """Beam particles through the whole spectrometer: from upstream of MM1 to the ECAL face.

    ``z_end_m`` defaults to ``geometry.ecal_z_m`` (the particle stops in the ECAL); scalars are
    broadcast to the length of ``event``.
    """
    event = np.atleast_1d(np.asarray(event, dtype=np.int64))
    z_end = geometry.ecal_z_m if z_end_m is None else z_end_m
    n = len(event)
    return TrackSegments(
        event=event,
        x_kick_cm=np.broadcast_to(x_kick_cm, n),
        y_kick_cm=np.broadcast_to(y_kick_cm, n),
        slope_x_up=np.broadcast_to(slope_x_up, n),
        slope_y=np.broadcast_to(slope_y, n),
        p_at_magnet_gev=np.broadcast_to(p_at_magnet_gev, n),
        z_start_m=np.full(n, -np.inf),
        z_end_m=np.broadcast_to(z_end, n),
        t_ns=np.broadcast_to(t_ns, n),
    )


def secondary_segments(
    rng: np.random.Generator,
    geometry: Geometry,
    event,
    z_int_m,
    p_gev,
    half_angle_rad,
    *,
    min_angle_rad=0.0,
    x_int_cm=None,
    y_int_cm=None,
    axis_slope_x=None,
    axis_slope_y=0.0,
    charge_sign=1.0,
    t_ns=0.0,
    z_end_m=None,
) -> TrackSegments:
    """Charged secondaries from an interaction at ``z_int_m``, emitted at large angles.

    Directions are uniform in solid angle within a cone (polar angle between ``min_angle_rad``
    and ``half_angle_rad``, e.g. 20-100 mrad) around an axis with slopes (``axis_slope_x``,
    ``axis_slope_y``), by default the nominal trajectory's direction at ``z_int_m``. The vertex
    defaults to the nominal trajectory at ``z_int_m``. ``charge_sign`` +1 bends like the beam
    e-, -1 the other way (matters only for interactions upstream of the magnets). Every argument
    broadcasts to the length of ``event``; the secondaries stop at ``z_end_m`` (default: ECAL).
    """
    event = np.atleast_1d(np.asarray(event, dtype=np.int64))
    n = len(event)
    z_int = np.broadcast_to(np.asarray(z_int_m, dtype=float), n)
    p = np.abs(np.broadcast_to(np.asarray(p_gev, dtype=float), n))
    x0 = nominal_x_cm(geometry, z_int) if x_int_cm is None else np.broadcast_to(x_int_cm, n)
    y0 = nominal_y_cm(geometry, z_int) if y_int_cm is None else np.broadcast_to(y_int_cm, n)
    upstream = z_int < geometry.magnet_kick_z_m
    if axis_slope_x is None:
        axis_slope_x = np.where(
            upstream, deflection_rad(geometry, geometry.nominal_momentum_gev), 0.0
        )
    # uniform in solid angle: cos(theta) uniform between cos(max) and cos(min)
    cmin, cmax = np.cos(half_angle_rad), np.cos(min_angle_rad)
    theta = np.arccos(rng.uniform(0.0, 1.0, n) * (cmax - cmin) + cmin)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sx = axis_slope_x + np.tan(theta) * np.cos(phi)
    sy = axis_slope_y + np.tan(theta) * np.sin(phi)
    p_signed = p * np.sign(np.broadcast_to(np.asarray(charge_sign, dtype=float), n))
    # express in the kick-plane parameters of the beamline model (slope_x_up is the slope the
    # particle would have upstream of the kick; downstream the model subtracts the deflection)
    slope_x_up = np.where(upstream, sx, sx + deflection_rad(geometry, p_signed))
    x_kick = x0 + 100.0 * sx * (geometry.magnet_kick_z_m - z_int)
    y_kick = y0 + 100.0 * sy * (geometry.magnet_kick_z_m - z_int)
    # for upstream vertices the x slope changes at the kick; x_kick above is still correct since
    # the slope is sx over the whole upstream part
    z_end = geometry.ecal_z_m if z_end_m is None else z_end_m
    return TrackSegments(
        event=event,
        x_kick_cm=x_kick,
        y_kick_cm=y_kick,
        slope_x_up=slope_x_up,
        slope_y=sy,
        p_at_magnet_gev=p_signed,
        z_start_m=z_int,
        z_end_m=np.broadcast_to(z_end, n),
        t_ns=np.broadcast_to(t_ns, n),
    )


def _ms_theta0(p_gev: np.ndarray, x_over_x0: float) -> np.ndarray:
    """Projected multiple-scattering angle (rad) for momentum p."""
    return MS_CONSTANT_GEV / np.maximum(np.abs(p_gev), 1e-3) * np.sqrt(x_over_x0)


def _moyal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Moyal (Landau-like) standard variates: if Z ~ N(0,1), -ln(Z^2) is Moyal distributed."""
    z2 = rng.standard_normal(n) ** 2
    return -np.log(np.maximum(z2, 1e-300))


# Read-out granularity [choose]: the MM (APV) amplitudes are whole ADC counts; hit times are
# delivered in 1/16 ns bins like the calorimeter times.
HIT_QUANTUM = {"amp": 1.0, "t": 0.0625}


class _Hits:
    """Flat hit columns collected over stations and planes, in the contract dtypes."""

    def __init__(self, prefix: str, names):
        self.prefix = prefix
        self.cols = {k: [] for k in ("event", *names)}

    def add(self, **cols):
        for k, v in cols.items():
            dtype = np.int64 if k == "event" else _DTYPES[f"{self.prefix}_{k}"]
            v = np.asarray(v)
            if k in HIT_QUANTUM:  # ADC counts and TDC bins: what the read-out really delivers
                v = np.round(v / HIT_QUANTUM[k]) * HIT_QUANTUM[k]
            self.cols[k].append(v.astype(dtype, copy=False))

    def to_array(self, channel: str, n_events: int) -> ak.Array:
        flat = {k: np.concatenate(v) for k, v in self.cols.items()}
        event = flat.pop("event")
        # one sort key: (event, station, plane, channel); channel < 2^16, plane < 2, station < 2^8
        key = event << 25
        key |= flat["station"].astype(np.int64) << 17
        key |= flat["plane"].astype(np.int64) << 16
        key |= flat[channel].astype(np.int64)
        order = np.argsort(key, kind="stable")
        counts = np.bincount(event, minlength=n_events).astype(np.int64)
        rec = {k: v[order] for k, v in flat.items()}
        return ak.unflatten(ak.zip(rec, depth_limit=1), counts)


def _noise(
    rng: np.random.Generator, st: TrackerStation, n_events: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event index, channel and time of the noise hits of one plane."""
    k = rng.poisson(st.noise_hits_mean, n_events)
    ev = np.repeat(np.arange(n_events, dtype=np.int64), k)
    ch = rng.integers(0, st.n_channels, len(ev))
    t = rng.uniform(*READOUT_WINDOW_NS, len(ev))
    return ev, ch, t


def _mm_plane(rng, hits, st, i_st, plane, ev, inside, u_off_mm, t_seg, t0, n_events):
    """MM hits (clusters) of crossing particles plus noise for one plane."""
    ok = inside & (rng.random(len(ev)) < st.efficiency)
    ev, u, t_seg = ev[ok], u_off_mm[ok], t_seg[ok]
    # the charge centre: crossing point smeared by the intrinsic resolution
    s = (u + rng.normal(0.0, MM_INTRINSIC_SIGMA_MM, len(u))) / st.pitch_mm + st.n_channels / 2
    central = np.floor(s).astype(np.int64)
    frac = s - central - 0.5  # charge centre relative to the central strip's centre, in pitches
    charge = np.clip(
        MM_CHARGE_MPV_ADC + MM_CHARGE_WIDTH_ADC * _moyal(rng, len(ev)),
        MM_CHARGE_MIN_ADC,
        MM_ADC_MAX,
    )
    k = np.arange(-MM_CLUSTER_HALF_WIDTH, MM_CLUSTER_HALF_WIDTH + 1)
    scale = st.pitch_mm / MM_CHARGE_SIGMA_MM
    edges = np.arange(-MM_CLUSTER_HALF_WIDTH - 0.5, MM_CLUSTER_HALF_WIDTH + 1.0)
    cdf = ndtr((edges - frac[:, None]) * scale)
    share = np.diff(cdf, axis=1)
    amp = charge[:, None] * share + rng.normal(0.0, MM_STRIP_NOISE_ADC, share.shape)
    strip = central[:, None] + k
    fired = ((amp >= MM_STRIP_THRESHOLD_ADC) | (k == 0)) & (strip >= 0) & (strip < st.n_channels)
    # the fired strips share the whole cluster charge (the central strip carries >= ~40% of it)
    amp = np.maximum(amp, 1.0)
    # (a charge centre smeared just outside the plane fires nothing: guard the empty sum)
    total = np.maximum(np.where(fired, amp, 0.0).sum(axis=1), 1e-9)
    amp = amp * (charge / total)[:, None]
    n_fired = fired.sum(axis=1)
    ev_h = np.repeat(ev, n_fired)
    t = np.repeat(t_seg, n_fired) + t0 + rng.normal(0.0, st.time_sigma_ns, len(ev_h))
    hits.add(
        event=ev_h,
        station=np.full(len(ev_h), i_st),
        plane=np.full(len(ev_h), plane),
        strip=strip[fired],
        amp=amp[fired],
        t=t,
    )
    nev, nch, nt = _noise(rng, st, n_events)
    hits.add(
        event=nev,
        station=np.full(len(nev), i_st),
        plane=np.full(len(nev), plane),
        strip=nch,
        amp=MM_STRIP_THRESHOLD_ADC + rng.exponential(MM_NOISE_AMP_MEAN_ADC, len(nev)),
        t=nt,
    )


def _straw_plane(rng, hits, st, i_st, plane, ev, inside, u_off_mm, t_seg, t0, drift_max, n_events):
    """Straw hits of crossing particles plus noise for one plane."""
    ok = inside & (rng.random(len(ev)) < st.efficiency)
    ev, u, t_seg = ev[ok], u_off_mm[ok], t_seg[ok]
    s = u / st.pitch_mm + st.n_channels / 2
    wire = np.floor(s).astype(np.int64)
    d = s - wire - 0.5  # distance from the wire in tube diameters, [-0.5, 0.5)
    # drift time grows linearly with the distance from the wire: uniform in [0, drift_max] for
    # uniformly distributed tracks
    t_drift = drift_max * np.abs(d) / 0.5
    near_wall = np.abs(d) > 0.5 - STRAW_WALL_FRACTION
    nb = wire + np.where(d > 0, 1, -1)
    second = near_wall & (nb >= 0) & (nb < st.n_channels)
    ev_h = np.concatenate([ev, ev[second]])
    w_h = np.concatenate([wire, nb[second]])
    # the neighbour tube is crossed near its wall: maximal drift time
    td = np.concatenate([t_drift, np.full(int(second.sum()), drift_max)])
    t = np.concatenate([t_seg, t_seg[second]]) + t0 + td
    t = t + rng.normal(0.0, st.time_sigma_ns, len(t))
    hits.add(
        event=ev_h,
        station=np.full(len(ev_h), i_st),
        plane=np.full(len(ev_h), plane),
        wire=w_h,
        t=t,
    )
    nev, nch, nt = _noise(rng, st, n_events)
    hits.add(
        event=nev,
        station=np.full(len(nev), i_st),
        plane=np.full(len(nev), plane),
        wire=nch,
        t=nt,
    )


def simulate_tracker_hits(
    rng: np.random.Generator,
    geometry: Geometry,
    n_events: int,
    segments: TrackSegments,
    mm_t0: np.ndarray,
    st_t0: np.ndarray,
    st_drift_max_ns: np.ndarray,
) -> tuple[ak.Array, ak.Array]:
    """Return (mm, st): per-event jagged records, mm fields station, plane, strip, amp, t and
    st fields station, plane, wire, t, with the contract dtypes, events in order 0..n_events-1.

    ``mm_t0`` / ``st_t0`` are the per-station time offsets (ns) and ``st_drift_max_ns`` the
    per-station maximal drift time, e.g. from ``true_calibration(period)["mm"]["t0"]``,
    ``["straw"]["t0"]`` and ``["straw"]["drift_max_ns"]``.
    """
    if len(segments) and (segments.event.min() < 0 or segments.event.max() >= n_events):
        raise ValueError(f"segment event indices must lie in [0, {n_events})")
    mm_t0 = np.asarray(mm_t0, dtype=float)
    st_t0 = np.asarray(st_t0, dtype=float)
    st_drift_max_ns = np.asarray(st_drift_max_ns, dtype=float)
    if len(mm_t0) != len(geometry.mm_stations) or len(st_t0) != len(geometry.straw_stations):
        raise ValueError("one t0 per MM and per straw station is needed")

    stations = [("mm", i, s) for i, s in enumerate(geometry.mm_stations)]
    stations += [("st", i, s) for i, s in enumerate(geometry.straw_stations)]
    stations.sort(key=lambda x: x[2].z_m)

    seg = segments
    n = len(seg)
    # multiple-scattering offsets: slope and position deviations accumulated so far (cm, rad)
    dsx, dsy = np.zeros(n), np.zeros(n)
    dx, dy = np.zeros(n), np.zeros(n)
    z_prev = stations[0][2].z_m if stations else 0.0

    mm_hits = _Hits("mm", ("station", "plane", "strip", "amp", "t"))
    st_hits = _Hits("st", ("station", "plane", "wire", "t"))
    for kind, i, st in stations:
        z = st.z_m
        dx += 100.0 * dsx * (z - z_prev)
        dy += 100.0 * dsy * (z - z_prev)
        z_prev = z
        crossing = (seg.z_start_m <= z) & (z <= seg.z_end_m)
        idx = np.flatnonzero(crossing)
        x, y = position_at(
            geometry,
            z,
            seg.x_kick_cm[idx],
            seg.y_kick_cm[idx],
            seg.slope_x_up[idx],
            seg.slope_y[idx],
            seg.p_at_magnet_gev[idx],
        )
        ux = 10.0 * (x + dx[idx] - nominal_x_cm(geometry, z))  # mm from the channel centre
        uy = 10.0 * (y + dy[idx] - nominal_y_cm(geometry, z))
        ev, t_seg = seg.event[idx], seg.t_ns[idx]
        # the planes cover a square of n_channels x pitch centred on the nominal trajectory
        half = st.n_channels * st.pitch_mm / 2
        inside = (np.abs(ux) < half) & (np.abs(uy) < half)
        for plane, u in ((PLANE_X, ux), (PLANE_Y, uy)):
            if kind == "mm":
                _mm_plane(rng, mm_hits, st, i, plane, ev, inside, u, t_seg, mm_t0[i], n_events)
            else:
                drift_max = st_drift_max_ns[i]
                args = (ev, inside, u, t_seg, st_t0[i], drift_max, n_events)
                _straw_plane(rng, st_hits, st, i, plane, *args)
        # the material of the station scatters the particles that cross its active area
        hit_idx = idx[inside]
        theta0 = _ms_theta0(seg.p_at_magnet_gev[hit_idx], st.x_over_x0)
        dsx[hit_idx] += theta0 * rng.standard_normal(len(hit_idx))
        dsy[hit_idx] += theta0 * rng.standard_normal(len(hit_idx))

    return mm_hits.to_array("strip", n_events), st_hits.to_array("wire", n_events)
