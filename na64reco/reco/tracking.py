"""Tracking: Micromegas clusters, track segments around the magnets, momentum, hit multiplicities.

Pure functions on hit arrays (awkward per-event records as in the event tree: ``mm`` with
station, plane, strip, amp, t and ``st`` with station, plane, wire, t, sorted by
(station, plane, channel) within each event). The per-hit and per-event loops are numba kernels
(:mod:`na64reco.reco.tracking_kernels`); there is no Python loop over events.

Coordinates: channels of every station are centred on the nominal 100 GeV trajectory at its z
(:mod:`na64reco.conditions.beamline`), so a strip's centre is ``u = (strip + 0.5 - n_channels / 2) *
pitch`` (mm) relative to it; absolute positions (cm, ECAL frame) add ``nominal_x_cm`` /
``nominal_y_cm``. Slopes are absolute (rad, ECAL frame): the nominal trajectory arrives with
slope +theta0 in x and leaves parallel to z.

Track model: thin-lens kick at ``geometry.magnet_kick_z_m``. Upstream segment = straight line
through one in-time cluster in each of the two MM stations before the kick (MM1, MM2); downstream
segment = the same for the first two stations after it (MM3, MM4); separately in x and y.
Momentum ``p = 0.2998 B L / (slope_x_up - slope_x_down)`` (signed: negative for a particle that
bends the other way). Choice when a plane has several in-time clusters:

* upstream: the pair most like a beam particle, minimal
  ``(slope_rel / SEG_SIGMA_SLOPE_UP_MRAD)^2 + (u_kick_rel / SEG_SIGMA_POS_MM)^2`` (slope and
  position at the kick relative to the nominal trajectory); secondaries at >= 20 mrad and
  off-beam noise lose;
* downstream: the pair whose line meets the upstream segment at the kick plane, minimal
  ``(du_kick / SEG_SIGMA_MATCH_MM)^2`` (in y also ``+ (dslope / SEG_SIGMA_SLOPE_MATCH_Y_MRAD)^2``,
  y is not bent). The x slope is free (it measures the momentum). Without an upstream segment the
  most beam-like pair (position and slope) is taken.

Status bits (``status``, 0 = a complete track): see ``STATUS_*`` below. ``p_gev`` is NaN when
any of NO_MM_CLUSTERS, NO_UPSTREAM_X, NO_DOWNSTREAM_X, KICK_MISMATCH_X is set; ``ecal_x_cm`` /
``ecal_y_cm`` are NaN without a downstream segment in that projection.

In-time MM cluster: ``|t - mm_t0[station]| < MM_INTIME_NSIGMA * time_sigma_ns`` and charge at
least ``MM_MIN_CLUSTER_CHARGE_ADC``; in-time straw hit: inside ``cset.straw_window_ns`` widened by
``STRAW_WINDOW_MARGIN_NSIGMA * time_sigma_ns`` on each side.

Multiplicities (paper 000 cut (iv): no extra in-time MM hit upstream of the magnets, at most one
downstream, no extra straw hits): counts of in-time *clusters* (one crossing of one plane). A
plane's in-time clusters beyond the one the track explains are "extra". The track explains the
segment's cluster in MM1-MM4 and, in the other stations (MM5-MM7), the cluster nearest to the
downstream segment's extrapolation within ``TRACK_ROAD_MM``; on a side without a segment in that
projection, a cluster within ``BEAM_ROAD_MM`` of the other side's segment carried through the
kick plane with the nominal deflection (or of the nominal trajectory when neither exists). A
beam electron therefore has 0 extra clusters whatever the plane efficiencies. Straws: contiguous
in-time wires of one plane are one crossing (a track near a tube wall fires two); the crossing
nearest to the downstream segment's extrapolation (within ``STRAW_TRACK_ROAD_MM``; without one,
the same fallback as above within ``STRAW_BEAM_ROAD_MM``) is the track's, every other in-time wire
is extra.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from na64reco.calibration.constants import CalibrationSet
from na64reco.conditions.beamline import nominal_x_cm, nominal_y_cm
from na64reco.conditions.periods import Geometry
from na64reco.constants import MAGNETIC_RIGIDITY_GEV_PER_TESLA_M
from na64reco.reco import tracking_kernels as _k
from na64reco.reco.rows import row_sum

# --- status bits ---------------------------------------------------------------------------------
STATUS_OK = 0
STATUS_NO_MM_CLUSTERS = _k.NO_MM_CLUSTERS  # no in-time MM cluster at all (empty event)
STATUS_NO_UPSTREAM_X = _k.NO_UPSTREAM_X  # MM1 or MM2 x plane without an in-time cluster
STATUS_NO_DOWNSTREAM_X = _k.NO_DOWNSTREAM_X  # MM3 or MM4 x plane without an in-time cluster
STATUS_KICK_MISMATCH_X = _k.KICK_MISMATCH_X  # x segments miss each other at the kick plane
STATUS_NO_UPSTREAM_Y = _k.NO_UPSTREAM_Y  # (p still measured; y slopes NaN)
STATUS_NO_DOWNSTREAM_Y = _k.NO_DOWNSTREAM_Y  # (ecal_y_cm NaN)
STATUS_P_INVALID = _k.P_INVALID  # any of these bits -> p_gev is NaN
STATUS_NAMES = {
    STATUS_NO_MM_CLUSTERS: "no in-time MM cluster",
    STATUS_NO_UPSTREAM_X: "no upstream x segment",
    STATUS_NO_DOWNSTREAM_X: "no downstream x segment",
    STATUS_KICK_MISMATCH_X: "x segments do not meet at the magnet",
    STATUS_NO_UPSTREAM_Y: "no upstream y segment",
    STATUS_NO_DOWNSTREAM_Y: "no downstream y segment",
}

# --- windows and roads [choose] ------------------------------------------------------------------
# In-time MM cluster: |t - mm_t0[station]| < MM_INTIME_NSIGMA * time_sigma_ns of the station. The
# simulated per-strip jitter is time_sigma_ns (5 ns; the charge-weighted cluster time is at least
# as good), so 3 sigma (15 ns) keeps 99.7% of the track's clusters and accepts 15% of the noise
# and pile-up uniform in the +-100 ns read-out window.
MM_INTIME_NSIGMA = 3.0
# Neighbouring strips whose times differ by more than this many station sigmas (x sqrt 2 for a
# difference) belong to different particles: 4 sigma, a false split once per ~3e4 strip pairs.
MM_CLUSTER_SPLIT_NSIGMA = 4.0
# In-time straw hit: straw_window_ns of the CalibrationSet ([t0, t0 + max drift]) widened on each
# side by this many time_sigma_ns of the station (10 ns jitter on top of the drift time: a window
# without margin loses ~8% of the track's hits at its edges).
STRAW_WINDOW_MARGIN_NSIGMA = 2.0
# A MIP's MM cluster carries a Landau charge with MPV ~100 ADC (>= ~30 ADC); noise strips are just
# above the strip threshold (~10-20 ADC). Clusters below this charge are not counted as hits (with
# the in-time window this leaves ~0.1% in-time noise clusters per plane instead of ~1.5%).
MM_MIN_CLUSTER_CHARGE_ADC = 25.0
# Segment choice (module docstring): beam divergence ~0.1 mrad and 0.12 mrad slope error of a
# MM1-MM2 pair -> 1 mrad generous; beam spot 6 mm -> 10 mm; the two segments meet at the kick
# within ~1 mm (0.6 mm upstream + 0.5 mm downstream extrapolation); y slopes within ~0.2 mrad.
SEG_SIGMA_SLOPE_UP_MRAD = 1.0
SEG_SIGMA_POS_MM = 10.0
SEG_SIGMA_MATCH_MM = 1.0
SEG_SIGMA_SLOPE_MATCH_Y_MRAD = 0.5
SEG_SIGMA_SLOPE_DOWN_MRAD = 30.0  # only without an upstream segment: momenta down to ~20 GeV
# x segments further apart than this at the kick plane are not one particle (~10 sigma).
MAX_KICK_MISMATCH_MM = 10.0
# Roads for the cluster a track explains in stations outside its segment: the downstream segment's
# slope error is ~0.2 mrad (50-100 um clusters 0.7 m apart), ~2.5 mm at MM5-MM7 12-14 m further;
# multiple scattering adds ~0.1 mm at 100 GeV -> 4 sigma.
TRACK_ROAD_MM = 10.0
BEAM_ROAD_MM = 20.0  # ~3 beam-spot sigmas around the nominal trajectory
STRAW_TRACK_ROAD_MM = 9.0  # 1.5 tube diameters: the crossing's centre is within half a tube
STRAW_BEAM_ROAD_MM = 30.0

MM_PLANE_X, MM_PLANE_Y = 0, 1


def _flat(arr, fields_dtypes: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-event offsets and flat numpy columns of a jagged record array (empty-safe)."""
    counts = np.asarray(ak.to_numpy(ak.num(arr, axis=1)), dtype=np.int64) if len(arr) else None
    n = len(arr)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if counts is not None:
        np.cumsum(counts, out=offsets[1:])
    cols = {}
    for name, dtype in fields_dtypes.items():
        if offsets[-1] == 0:
            cols[name] = np.zeros(0, dtype=dtype)
        else:
            cols[name] = np.ascontiguousarray(ak.to_numpy(ak.flatten(arr[name])), dtype=dtype)
    return offsets, cols


_MM_FIELDS = {"station": np.uint8, "plane": np.uint8, "strip": np.uint16, "amp": np.float32,
              "t": np.float32}  # fmt: skip
_ST_FIELDS = {"station": np.uint8, "plane": np.uint8, "wire": np.uint16, "t": np.float32}


def _station_arrays(stations):
    pitch = np.array([s.pitch_mm for s in stations], dtype=np.float64)
    nch = np.array([s.n_channels for s in stations], dtype=np.int64)
    z = np.array([s.z_m for s in stations], dtype=np.float64)
    sigma = np.array([s.time_sigma_ns for s in stations], dtype=np.float64)
    return pitch, nch, z, sigma


def _mm_clusters_flat(mm, cset: CalibrationSet, geometry: Geometry):
    offsets, h = _flat(mm, _MM_FIELDS)
    pitch, nch, _z, sigma = _station_arrays(geometry.mm_stations)
    split = float(MM_CLUSTER_SPLIT_NSIGMA * np.sqrt(2.0) * sigma.max()) if len(sigma) else 0.0
    c_off, st, pl, u, q, size, t, first = _k.cluster_hits(
        offsets, h["station"], h["plane"], h["strip"], h["amp"], h["t"], pitch, nch, split
    )
    t0 = np.asarray(cset.mm_t0, dtype=np.float64)
    window = MM_INTIME_NSIGMA * sigma
    # (|t - t0[station]| < window[station]) & (charge >= MM_MIN_CLUSTER_CHARGE_ADC), one pass
    intime = _k.mm_in_time(st, t, q, t0, window, float(MM_MIN_CLUSTER_CHARGE_ADC))
    return c_off, {"station": st, "plane": pl, "u_mm": u, "charge": q, "size": size, "t": t,
                   "first_strip": first, "in_time": intime}  # fmt: skip


def mm_in_time_window_ns(geometry: Geometry) -> np.ndarray:
    """Half-width of the in-time window of each MM station (ns)."""
    return MM_INTIME_NSIGMA * np.array([s.time_sigma_ns for s in geometry.mm_stations])


def straw_in_time_window_ns(cset: CalibrationSet, geometry: Geometry) -> np.ndarray:
    """(n_st, 2) raw-time window of in-time straw hits: the calibration window plus the margin."""
    sigma = np.array([s.time_sigma_ns for s in geometry.straw_stations], dtype=np.float64)
    margin = STRAW_WINDOW_MARGIN_NSIGMA * sigma
    w = np.asarray(cset.straw_window_ns, dtype=np.float64).reshape(-1, 2)
    return np.stack([w[:, 0] - margin, w[:, 1] + margin], axis=1)


def cluster_mm(mm, cset: CalibrationSet, geometry: Geometry) -> ak.Array:
    """Micromegas clusters per event.

    Fields: station, plane (0 x, 1 y), u_mm (charge-weighted centre relative to the nominal
    trajectory), pos_cm (absolute x or y in the ECAL frame), charge (ADC sum), size (strips),
    t (charge-weighted time, ns raw), first_strip, in_time (``|t - mm_t0| < window`` and charge
    >= ``MM_MIN_CLUSTER_CHARGE_ADC``: the clusters tracking uses and counts).
    """
    c_off, cols = _mm_clusters_flat(mm, cset, geometry)
    z = np.array([s.z_m for s in geometry.mm_stations], dtype=np.float64)
    nom = np.stack([nominal_x_cm(geometry, z), nominal_y_cm(geometry, z)], axis=1)
    if len(cols["station"]):
        cols["pos_cm"] = nom[cols["station"], cols["plane"]] + 0.1 * cols["u_mm"]
    else:
        cols["pos_cm"] = np.zeros(0)
    order = ("station", "plane", "u_mm", "pos_cm", "charge", "size", "t", "first_strip", "in_time")
    rec = ak.zip({k: cols[k] for k in order}, depth_limit=1)
    return ak.unflatten(rec, np.diff(c_off))


def _pairs(geometry: Geometry):
    """Indices of the two MM stations just upstream and just downstream of the kick."""
    z = np.array([s.z_m for s in geometry.mm_stations])
    kick = geometry.magnet_kick_z_m
    up = [i for i in np.argsort(z) if z[i] < kick]
    down = [i for i in np.argsort(z) if z[i] > kick]
    if len(up) < 2 or len(down) < 2:
        raise ValueError("tracking needs two MM stations on each side of the magnets")
    return [int(i) for i in up[-2:]], [int(i) for i in down[:2]]


def reconstruct_tracks(mm, st, cset: CalibrationSet, geometry: Geometry) -> dict[str, np.ndarray]:
    """Track segments, momentum and hit multiplicities of every event.

    Returns flat per-event numpy arrays (n = number of events):

    * ``p_gev`` (f8): momentum through the magnets, NaN when not reconstructable (``status``);
    * ``status`` (i4): bit mask of ``STATUS_*`` (0 = full track in x and y);
    * ``deflection_rad``, ``slope_x_up``, ``slope_x_down``, ``slope_y_up``, ``slope_y_down``
      (rad, absolute), ``x_kick_cm``, ``y_kick_cm`` (upstream segment at the kick plane),
      ``kick_mismatch_x_mm`` (downstream minus upstream x at the kick plane);
    * ``ecal_x_cm``, ``ecal_y_cm``: the track at the ECAL face (ECAL frame): a straight-line
      fit of the downstream segment and the clusters it explains in MM5-MM7 (just the segment
      when those have none);
    * ``n_mm_clusters`` (n, n_mm, 2): in-time clusters per station and plane;
      ``n_mm_upstream`` / ``n_mm_downstream``: in-time clusters before / after the magnets,
      ``n_mm_hits_upstream`` / ``n_mm_hits_downstream``: their strips,
      ``n_mm_extra_upstream`` / ``n_mm_extra_downstream``: in-time clusters the track does not
      explain;
    * ``n_straw`` (n, n_st, 2): in-time straw hits per station and plane; ``n_straw_total``;
      ``n_straw_extra``: in-time straw hits beyond the track's crossing.
    """
    n_ev = len(mm)
    if len(st) != n_ev:
        raise ValueError(f"mm has {n_ev} events but st has {len(st)}")
    n_mm = len(geometry.mm_stations)
    n_st = len(geometry.straw_stations)
    if len(np.asarray(cset.mm_t0)) != n_mm:
        raise ValueError(f"cset.mm_t0 has {len(cset.mm_t0)} stations, the geometry {n_mm}")
    up, down = _pairs(geometry)
    c_off, cl = _mm_clusters_flat(mm, cset, geometry)
    mm_z = np.array([s.z_m for s in geometry.mm_stations], dtype=np.float64)
    kick = float(geometry.magnet_kick_z_m)

    s_off, sh = _flat(st, _ST_FIELDS)
    st_pitch, st_nch, st_z, _ = _station_arrays(geometry.straw_stations)
    win = straw_in_time_window_ns(cset, geometry)
    # win[station, 0] <= t <= win[station, 1] (t as float64), one pass
    s_in = _k.straw_in_time(sh["station"], sh["t"], np.ascontiguousarray(win[:, 0]),
                            np.ascontiguousarray(win[:, 1]))  # fmt: skip

    cuts = np.array(
        [
            SEG_SIGMA_SLOPE_UP_MRAD,
            SEG_SIGMA_POS_MM,
            SEG_SIGMA_MATCH_MM,
            SEG_SIGMA_SLOPE_MATCH_Y_MRAD,
            SEG_SIGMA_SLOPE_DOWN_MRAD,
            MAX_KICK_MISMATCH_MM,
            TRACK_ROAD_MM,
            BEAM_ROAD_MM,
            STRAW_TRACK_ROAD_MM,
            STRAW_BEAM_ROAD_MM,
        ]
    )
    status = np.zeros(n_ev, dtype=np.int32)
    slope = np.zeros((n_ev, 2, 2))
    ukick = np.zeros((n_ev, 2, 2))
    uecal = np.zeros((n_ev, 2))
    ncl = np.zeros((n_ev, n_mm, 2), dtype=np.int32)
    nhit = np.zeros((n_ev, 2), dtype=np.int32)
    extra = np.zeros((n_ev, 2), dtype=np.int32)
    nstraw = np.zeros((n_ev, n_st, 2), dtype=np.int32)
    straw_extra = np.zeros(n_ev, dtype=np.int32)
    _k.track_events(
        c_off,
        cl["station"],
        cl["plane"],
        cl["u_mm"],
        cl["size"],
        cl["in_time"],
        mm_z,
        mm_z < kick,
        up[0],
        up[1],
        down[0],
        down[1],
        kick,
        float(geometry.ecal_z_m),
        s_off,
        sh["station"],
        sh["plane"],
        sh["wire"],
        s_in,
        st_z,
        st_pitch,
        st_nch,
        cuts,
        status,
        slope,
        ukick,
        uecal,
        ncl,
        nhit,
        extra,
        nstraw,
        straw_extra,
    )

    # relative (mm, mrad) -> absolute (cm, rad) with the nominal trajectory's slopes and positions
    def nominal_slope(f, pair):
        za, zb = mm_z[pair[0]], mm_z[pair[1]]
        return float((f(geometry, zb) - f(geometry, za)) / (zb - za) / 100.0)

    nom_sx_up, nom_sx_dn = nominal_slope(nominal_x_cm, up), nominal_slope(nominal_x_cm, down)
    nom_sy_up, nom_sy_dn = nominal_slope(nominal_y_cm, up), nominal_slope(nominal_y_cm, down)
    slope_x_up = slope[:, 0, 0] * 1e-3 + nom_sx_up
    slope_x_down = slope[:, 0, 1] * 1e-3 + nom_sx_dn
    deflection = slope_x_up - slope_x_down
    valid = (status & STATUS_P_INVALID) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(
            valid,
            MAGNETIC_RIGIDITY_GEV_PER_TESLA_M * geometry.magnet_bl_tesla_m / deflection,
            np.nan,
        )
    # sums over (station, plane) as one flat axis: 3x faster than a (1, 2) reduction
    per_plane = ncl.reshape(n_ev, n_mm * 2)
    n_up = row_sum(per_plane[:, np.repeat(mm_z < kick, 2)])
    n_down = row_sum(per_plane[:, np.repeat(mm_z > kick, 2)])
    return {
        "p_gev": p,
        "status": status,
        "deflection_rad": np.where(valid, deflection, np.nan),
        "slope_x_up": slope_x_up,
        "slope_x_down": slope_x_down,
        "slope_y_up": slope[:, 1, 0] * 1e-3 + nom_sy_up,
        "slope_y_down": slope[:, 1, 1] * 1e-3 + nom_sy_dn,
        "x_kick_cm": float(nominal_x_cm(geometry, kick)) + 0.1 * ukick[:, 0, 0],
        "y_kick_cm": float(nominal_y_cm(geometry, kick)) + 0.1 * ukick[:, 1, 0],
        "kick_mismatch_x_mm": ukick[:, 0, 1] - ukick[:, 0, 0],
        "ecal_x_cm": float(nominal_x_cm(geometry, geometry.ecal_z_m)) + 0.1 * uecal[:, 0],
        "ecal_y_cm": float(nominal_y_cm(geometry, geometry.ecal_z_m)) + 0.1 * uecal[:, 1],
        "n_mm_clusters": ncl,
        "n_mm_upstream": n_up.astype(np.int32),
        "n_mm_downstream": n_down.astype(np.int32),
        "n_mm_hits_upstream": nhit[:, 0],
        "n_mm_hits_downstream": nhit[:, 1],
        "n_mm_extra_upstream": extra[:, 0],
        "n_mm_extra_downstream": extra[:, 1],
        "n_straw": nstraw,
        "n_straw_total": row_sum(nstraw.reshape(n_ev, n_st * 2)).astype(np.int32),
        "n_straw_extra": straw_extra,
    }
