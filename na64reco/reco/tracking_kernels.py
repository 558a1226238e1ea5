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

    Hits must be sorted by (station, plane, strip) within each event. Neighbouring strips whose
    times differ by more than ``split_dt_ns`` start a new cluster (out-of-time neighbours).
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
    nc = 0
    for e in range(n_ev):
        h0 = offsets[e]
        h1 = offsets[e + 1]
        h = h0
        while h < h1:
            s = station[h]
            p = plane[h]
            half = 0.5 * n_channels[s]
            sq = 0.0
            squ = 0.0
            sqt = 0.0
            st_sum = 0.0
            su = 0.0
            k = 0
            first = np.int32(strip[h])
            last = -10
            t_prev = 0.0
            while h < h1:
                if k > 0:
                    if station[h] != s or plane[h] != p or np.int64(strip[h]) != last + 1:
                        break
                    if abs(t[h] - t_prev) > split_dt_ns:
                        break
                q = max(np.float64(amp[h]), 0.0)
                u = (np.float64(strip[h]) + 0.5 - half) * pitch_mm[s]
                sq += q
                squ += q * u
                sqt += q * t[h]
                su += u
                st_sum += t[h]
                k += 1
                last = np.int64(strip[h])
                t_prev = t[h]
                h += 1
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
            c_first[nc] = first
            nc += 1
        c_off[e + 1] = nc
    return c_off, c_st[:nc], c_pl[:nc], c_u[:nc], c_q[:nc], c_n[:nc], c_t[:nc], c_first[:nc]


@nb.njit(cache=True, nogil=True, inline="always")
def _line(u0, z0, u1, z1, z):
    slope = (u1 - u0) / (z1 - z0)
    return slope, u0 + slope * (z - z0)


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
            if has[p, 1]:
                z_first = mm_z[pair_st[1, 0]]
                out_uecal[e, p] = seg_u0[p, 1] + seg_slope[p, 1] * (ecal_z - z_first)
            else:
                out_uecal[e, p] = np.nan
        if not has[0, 0]:
            status |= NO_UPSTREAM_X
        if not has[0, 1]:
            status |= NO_DOWNSTREAM_X
        if not has[1, 0]:
            status |= NO_UPSTREAM_Y
        if not has[1, 1]:
            status |= NO_DOWNSTREAM_Y
        if has[0, 0] and has[0, 1]:
            if abs(out_ukick[e, 0, 1] - out_ukick[e, 0, 0]) > max_mismatch:
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
                    if has[p, side]:
                        z_first = mm_z[pair_st[side, 0]]
                        pred = seg_u0[p, side] + seg_slope[p, side] * (mm_z[s] - z_first)
                        road = track_road
                    else:
                        pred = 0.0
                        road = beam_road
                    for c in range(start[s, p], stop[s, p]):
                        if c_intime[c] and abs(c_u[c] - pred) < road:
                            expl = 1
                            break
                out_extra[e, side] += n - expl
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
            if has[p, 1]:
                z_first = mm_z[pair_st[1, 0]]
                pred = seg_u0[p, 1] + seg_slope[p, 1] * (st_z[s] - z_first)
                road = straw_track_road
            else:
                pred = 0.0
                road = straw_beam_road
            d = abs(su / k - pred)
            if d < road and d < best_d[s, p]:
                best_d[s, p] = d
                best_n[s, p] = k
        extra = 0
        for s in range(n_st):
            for p in range(2):
                extra += out_nstraw[e, s, p] - best_n[s, p]
        out_straw_extra[e] = extra
