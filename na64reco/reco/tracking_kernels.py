"""Numba kernels of :mod:`na64reco.reco.tracking` (per-hit and per-event loops).

Everything here works on flat numpy arrays plus per-event offsets; positions are in mm relative
to the nominal trajectory at each station (the channels are centred on it), z in m, so slopes are
in mm/m = mrad. The public, documented interface is :mod:`na64reco.reco.tracking`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# status bits (documented in tracking.py)
NO_MM_CLUSTERS = 1
NO_UPSTREAM_X = 2
NO_DOWNSTREAM_X = 4
KICK_MISMATCH_X = 8
NO_UPSTREAM_Y = 16
NO_DOWNSTREAM_Y = 32
P_INVALID = NO_MM_CLUSTERS | NO_UPSTREAM_X | NO_DOWNSTREAM_X | KICK_MISMATCH_X


@nb.njit(cache=True, nogil=True)
def cluster_hits(offsets, station, plane, strip, amp, t, pitch_mm, n_channels, split_dt_ns):
    """Contiguous fired strips of one (event, station, plane) -> clusters.

    Hits must be sorted by (station, plane, strip) within each event. A cluster grows from its
    first (lowest) unassigned strip over strips +1, +2, ... whose times are within
    ``split_dt_ns`` of the seed's: hits of two particles on the same or neighbouring strips at
    different times (pile-up, noise) form separate clusters.
    Returns (cluster offsets per event, station, plane, u_mm, charge, size, t, strip_first).
    """
    n_ev = len(offsets) - 1
    n_hit = len(station)
    c_off = np.zeros(n_ev + 1, np.int64)
    c_st = np.empty(n_hit, np.uint8)
    c_pl = np.empty(n_hit, np.uint8)
    c_u = np.empty(n_hit, np.float64)
    c_q = np.empty(n_hit, np.float64)
    c_n = np.empty(n_hit, np.int32)
    c_t = np.empty(n_hit, np.float64)
    c_first = np.empty(n_hit, np.int32)
    assigned = np.zeros(n_hit, np.bool_)
    nc = 0
    for e in range(n_ev):
        h1 = offsets[e + 1]
        b0 = offsets[e]
        while b0 < h1:
            # block of one (station, plane)
            s = station[b0]
            p = plane[b0]
            b1 = b0 + 1
            while b1 < h1 and station[b1] == s and plane[b1] == p:
                b1 += 1
            half = 0.5 * n_channels[s]
            for i in range(b0, b1):
                if assigned[i]:
                    continue
                t_seed = t[i]
                sq = 0.0
                squ = 0.0
                sqt = 0.0
                su = 0.0
                st_sum = 0.0
                k = 0
                last = np.int64(strip[i]) - 1
                j = i
                while j < b1 and np.int64(strip[j]) <= last + 1:
                    if (
                        not assigned[j]
                        and np.int64(strip[j]) == last + 1
                        and abs(t[j] - t_seed) <= split_dt_ns
                    ):
                        assigned[j] = True
                        q = max(np.float64(amp[j]), 0.0)
                        u = (np.float64(strip[j]) + 0.5 - half) * pitch_mm[s]
                        sq += q
                        squ += q * u
                        sqt += q * t[j]
                        su += u
                        st_sum += t[j]
                        k += 1
                        last = np.int64(strip[j])
                    j += 1
                c_st[nc] = s
                c_pl[nc] = p
                if sq > 0.0:
                    c_u[nc] = squ / sq
                    c_t[nc] = sqt / sq
                else:
                    c_u[nc] = su / k
                    c_t[nc] = st_sum / k
                c_q[nc] = sq
                c_n[nc] = k
                c_first[nc] = np.int32(strip[i])
                nc += 1
            b0 = b1
        c_off[e + 1] = nc
    return c_off, c_st[:nc], c_pl[:nc], c_u[:nc], c_q[:nc], c_n[:nc], c_t[:nc], c_first[:nc]


@nb.njit(cache=True, nogil=True)
def mm_in_time(station, t, charge, t0, window, min_charge):
    """In-time clusters: ``|t - t0[station]| < window[station]`` and ``charge >= min_charge``."""
    out = np.empty(len(station), np.bool_)
    for i in range(len(station)):
        s = station[i]
        out[i] = abs(t[i] - t0[s]) < window[s] and charge[i] >= min_charge
    return out


@nb.njit(cache=True, nogil=True)
def straw_in_time(station, t, lo, hi):
    """In-time straw hits: ``lo[station] <= t <= hi[station]`` (t compared as float64)."""
    out = np.empty(len(station), np.bool_)
    for i in range(len(station)):
        s = station[i]
        tt = np.float64(t[i])
        out[i] = tt >= lo[s] and tt <= hi[s]
    return out


@nb.njit(cache=True, nogil=True)
def _line(u0, z0, u1, z1, z):
    slope = (u1 - u0) / (z1 - z0)
    return slope, u0 + slope * (z - z0)


@nb.njit(cache=True, nogil=True)
def _predict(has, seg_u0, seg_slope, ukick, z_first, kick_z, p, side, z, track_road, beam_road):
    """Expected u (mm) of the track at z on ``side`` (0 upstream, 1 downstream) and its road.

    From the segment on that side; else from the other side's segment through the kick plane
    with the nominal deflection (relative slopes are kept for a 100 GeV particle) and the wide
    beam road; else the nominal trajectory (u = 0) with the beam road.
    """
    if has[p, side]:
        return seg_u0[p, side] + seg_slope[p, side] * (z - z_first), track_road
    other = 1 - side
    if has[p, other]:
        return ukick[p, other] + seg_slope[p, other] * (z - kick_z), beam_road
    return 0.0, beam_road


@nb.njit(cache=True, nogil=True)
def track_events(
    c_off,
    c_st,
    c_pl,
    c_u,
    c_size,
    c_intime,
    mm_z,
    mm_upstream,
    up0,
    up1,
    dn0,
    dn1,
    kick_z,
    ecal_z,
    s_off,
    s_st,
    s_pl,
    s_wire,
    s_intime,
    st_z,
    st_pitch,
    st_nch,
    cuts,
    out_status,
    out_slope,
    out_ukick,
    out_uecal,
    out_ncl,
    out_nhit,
    out_extra,
    out_nstraw,
    out_straw_extra,
):
    """Per event: segment choice in x and y, multiplicities and extra hits.

    ``cuts`` = (s_slope_up, s_pos, s_match, s_slope_match_y, s_slope_down, max_mismatch,
    track_road, beam_road, straw_track_road, straw_beam_road) in mm and mrad.
    Outputs (pre-allocated, filled here): status (n,), slope (n, 2 proj, 2 up/down) in mrad,
    ukick (n, 2, 2) mm at the kick plane, uecal (n, 2) mm at the ECAL face, ncl (n, n_mm, 2),
    nhit (n, 2 up/down) in-time strips, extra (n, 2 up/down), nstraw (n, n_st, 2), straw_extra.
    """
    s_slope_up = cuts[0]
    s_pos = cuts[1]
    s_match = cuts[2]
    s_slope_match_y = cuts[3]
    s_slope_down = cuts[4]
    max_mismatch = cuts[5]
    track_road = cuts[6]
    beam_road = cuts[7]
    straw_track_road = cuts[8]
    straw_beam_road = cuts[9]

    n_ev = len(c_off) - 1
    n_mm = len(mm_z)
    n_st = len(st_z)
    start = np.empty((n_mm, 2), np.int64)
    stop = np.empty((n_mm, 2), np.int64)
    used = np.empty((n_mm, 2), np.int64)  # cluster of the segment, -1 if none
    has = np.zeros((2, 2), np.bool_)  # (projection, up/down)
    seg_u0 = np.zeros((2, 2))  # u at the first station of the segment
    seg_slope = np.zeros((2, 2))
    best_d = np.empty((n_st, 2))
    best_n = np.empty((n_st, 2), np.int64)
    pair_st = np.array([[up0, up1], [dn0, dn1]])
    for e in range(n_ev):
        a = c_off[e]
        b = c_off[e + 1]
        start[:, :] = 0
        stop[:, :] = 0
        used[:, :] = -1
        n_intime = 0
        # clusters are ordered by (station, plane): ranges of each plane
        for c in range(a, b):
            s = c_st[c]
            p = c_pl[c]
            if stop[s, p] == 0:
                start[s, p] = c
            stop[s, p] = c + 1
            if c_intime[c]:
                out_ncl[e, s, p] += 1
                n_intime += 1
                if mm_upstream[s]:
                    out_nhit[e, 0] += c_size[c]
                else:
                    out_nhit[e, 1] += c_size[c]
        status = 0
        if n_intime == 0:
            status |= NO_MM_CLUSTERS
        for p in range(2):
            for side in range(2):
                sa = pair_st[side, 0]
                sb = pair_st[side, 1]
                za = mm_z[sa]
                zb = mm_z[sb]
                best = np.inf
                ia = -1
                ib = -1
                bslope = 0.0
                bkick = 0.0
                for ca in range(start[sa, p], stop[sa, p]):
                    if not c_intime[ca]:
                        continue
                    for cb in range(start[sb, p], stop[sb, p]):
                        if not c_intime[cb]:
                            continue
                        slope, uk = _line(c_u[ca], za, c_u[cb], zb, kick_z)
                        if side == 0:
                            # upstream: the most beam-like pair (near the nominal trajectory)
                            chi2 = (slope / s_slope_up) ** 2 + (uk / s_pos) ** 2
                        elif has[p, 0]:
                            # downstream: the pair that meets the upstream segment at the kick
                            chi2 = ((uk - out_ukick[e, p, 0]) / s_match) ** 2
                            if p == 1:  # no bending in y: the slope must match too
                                chi2 += ((slope - seg_slope[p, 0]) / s_slope_match_y) ** 2
                        else:
                            chi2 = (uk / s_pos) ** 2 + (slope / s_slope_down) ** 2
                        if chi2 < best:
                            best = chi2
                            ia = ca
                            ib = cb
                            bslope = slope
                            bkick = uk
                has[p, side] = ia >= 0
                if ia >= 0:
                    used[sa, p] = ia
                    used[sb, p] = ib
                    seg_u0[p, side] = c_u[ia]
                    seg_slope[p, side] = bslope
                    out_slope[e, p, side] = bslope
                    out_ukick[e, p, side] = bkick
                else:
                    out_slope[e, p, side] = np.nan
                    out_ukick[e, p, side] = np.nan
        if not has[0, 0]:
            status |= NO_UPSTREAM_X
        if not has[0, 1]:
            status |= NO_DOWNSTREAM_X
        if not has[1, 0]:
            status |= NO_UPSTREAM_Y
        if not has[1, 1]:
            status |= NO_DOWNSTREAM_Y
        mismatch = out_ukick[e, 0, 1] - out_ukick[e, 0, 0]
        if has[0, 0] and has[0, 1] and abs(mismatch) > max_mismatch:
            status |= KICK_MISMATCH_X
        out_status[e] = status
        # extra clusters: in-time clusters of each plane beyond the one the track explains
        for s in range(n_mm):
            side = 0 if mm_upstream[s] else 1
            for p in range(2):
                n = out_ncl[e, s, p]
                if n == 0:
                    continue
                expl = 0
                if used[s, p] >= 0:
                    expl = 1
                else:
                    pred, road = _predict(
                        has, seg_u0, seg_slope, out_ukick[e], mm_z[pair_st[side, 0]], kick_z,
                        p, side, mm_z[s], track_road, beam_road
                    )  # fmt: skip
                    dbest = road
                    for c in range(start[s, p], stop[s, p]):
                        d = abs(c_u[c] - pred)
                        if c_intime[c] and d < dbest:
                            expl = 1
                            dbest = d
                            if has[p, side]:
                                used[s, p] = c
                out_extra[e, side] += n - expl
        # ECAL face: straight-line fit of the downstream segment and the clusters it explains in
        # the other downstream stations (MM5-MM7 near the ECAL: a long lever arm)
        for p in range(2):
            if not has[p, 1]:
                out_uecal[e, p] = np.nan
                continue
            sw = 0.0
            sz = 0.0
            su = 0.0
            szz = 0.0
            szu = 0.0
            for s in range(n_mm):
                if mm_upstream[s] or used[s, p] < 0:
                    continue
                z = mm_z[s] - ecal_z
                u = c_u[used[s, p]]
                sw += 1.0
                sz += z
                su += u
                szz += z * z
                szu += z * u
            det = sw * szz - sz * sz
            # intercept at z = ecal_z
            out_uecal[e, p] = (su * szz - sz * szu) / det
        # straws: in-time hits per plane; contiguous in-time wires form one crossing; the
        # crossing nearest to the downstream segment (or the nominal beam) is the track's
        ha = s_off[e]
        hb = s_off[e + 1]
        best_d[:, :] = np.inf
        best_n[:, :] = 0
        h = ha
        while h < hb:
            if not s_intime[h]:
                h += 1
                continue
            s = s_st[h]
            p = s_pl[h]
            half = 0.5 * st_nch[s]
            k = 0
            su = 0.0
            last = -10
            while h < hb:
                if not s_intime[h]:
                    h += 1
                    continue
                if k > 0 and (s_st[h] != s or s_pl[h] != p or np.int64(s_wire[h]) != last + 1):
                    break
                su += (np.float64(s_wire[h]) + 0.5 - half) * st_pitch[s]
                last = np.int64(s_wire[h])
                k += 1
                h += 1
            out_nstraw[e, s, p] += k
            pred, road = _predict(
                has, seg_u0, seg_slope, out_ukick[e], mm_z[pair_st[1, 0]], kick_z,
                p, 1, st_z[s], straw_track_road, straw_beam_road
            )  # fmt: skip
            d = abs(su / k - pred)
            if d < road and d < best_d[s, p]:
                best_d[s, p] = d
                best_n[s, p] = k
        extra = 0
        for s in range(n_st):
            for p in range(2):
                extra += out_nstraw[e, s, p] - best_n[s, p]
        out_straw_extra[e] = extra
