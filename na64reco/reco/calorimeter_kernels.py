"""Numba kernels of the calorimeter reconstruction (``na64reco.reco.calorimeters``).

One pass per event over the channels of a detector computes the calibrated energy, the pulse /
in-time / in-gate / out-of-time flags and every sum at once, instead of one full-array numpy
pass per mask and per sum.

Bit-identity with the numpy formulation: every arithmetic step is float32 like numpy's on the
float32 raw data (numba does not contract a*b+c into an FMA without fastmath, which is off),
and every sum reproduces the order of numpy's float32 ``add.reduce`` over a contiguous axis:
``0 + pairwise(x)``, where for 8 <= n <= 128 pairwise keeps 8 running partial sums over
blocks of 8, combines them as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and adds the remainder in
order, and for n < 8 adds in order (``_pairwise``). The trigger sums (``trig_*``) must be
bit-identical to the hardware rule of ``na64reco.trigger``; the equivalence test in
``tests/test_reco_calorimeters.py`` compares with the numpy formulation.

Channel constants come in precomputed by the caller, with numpy's own dtype rules:
``gain_eff`` = gain where usable else 0 (float32), ``thr`` = zero-suppression threshold
(float32), ``sthr`` = out-of-time ("strong") threshold (float32); windows and gate as float32.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["channel_kernel", "ecal_energy_kernel", "ecal_kernel", "hcal_kernel"]

_F0 = np.float32(0.0)


@njit(cache=True)
def _pairwise(buf, n):
    """numpy's float32 add.reduce of buf[:n] (contiguous), 0 + pairwise sum, n <= 128."""
    res = _F0
    if n < 8:
        for i in range(n):
            res = res + buf[i]
        return res
    r0 = buf[0]
    r1 = buf[1]
    r2 = buf[2]
    r3 = buf[3]
    r4 = buf[4]
    r5 = buf[5]
    r6 = buf[6]
    r7 = buf[7]
    i = 8
    top = n - n % 8
    while i < top:
        r0 = r0 + buf[i]
        r1 = r1 + buf[i + 1]
        r2 = r2 + buf[i + 2]
        r3 = r3 + buf[i + 3]
        r4 = r4 + buf[i + 4]
        r5 = r5 + buf[i + 5]
        r6 = r6 + buf[i + 6]
        r7 = r7 + buf[i + 7]
        i += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        s = s + buf[i]
        i += 1
    return res + s


@njit(cache=True)
def _channel(a, tt, ped, gain_eff, t0, thr, sthr, usable):
    """(energy, bad, pulse, strong pulse, |t - t0|) of one channel."""
    e = (a - ped) * gain_eff
    dt = abs(tt - t0)
    bad = not (np.isfinite(a) and np.isfinite(tt))
    if bad:
        return _F0, True, False, False, dt
    pulse = usable and e > thr
    strong = pulse and e > sthr
    return e, False, pulse, strong, dt


@njit(cache=True)
def _ecal_buffers(nch):
    """Per-channel work buffers of ``_ecal_in_time``: (calibrated energy, pulse-less good,
    in-time energy, strong out-of-time energy, in-gate energy)."""
    return (
        np.empty(nch, np.float32),
        np.empty(nch, np.bool_),
        np.empty(nch, np.float32),
        np.empty(nch, np.float32),
        np.empty(nch, np.float32),
    )


@njit(cache=True)
def _ecal_in_time(amp, t, consts, window, gate, k, nx, ny, buffers):
    """One ECAL event (channels flattened; ``consts`` = (pedestal, effective gain, t0, pulse
    threshold, out-of-time threshold, usable, good)): fills ``buffers`` (``_ecal_buffers``;
    the in-time energy includes the pulse-less good channels within ``k`` cells of the hit
    cell) and returns (non-finite channels, hit cell x, hit cell y), the hit cell being the
    largest in-time PS + main energy (-1, -1 when there is none)."""
    ped, gain_eff, t0, thr, sthr, usable, good = consts
    energy, quiet, e_it, buf_o, buf_g = buffers
    nch = amp.shape[0]
    nc = nx * ny
    # pass 1: calibrate, flags, hit cell
    nb = 0
    for j in range(nch):
        e, bad, p, s, dt = _channel(
            amp[j], t[j], ped[j], gain_eff[j], t0[j], thr[j], sthr[j], usable[j]
        )
        it = p and dt < window
        nb += bad
        energy[j] = e
        quiet[j] = good[j] and not p
        e_it[j] = e if it else _F0
        buf_o[j] = e if (s and not it) else _F0
        buf_g[j] = e if (dt < gate or not p) else _F0
    best = _F0
    bc = -1
    for c in range(nc):
        v = _F0
        for j in range(c, nch, nc):
            v = v + e_it[j]
        if bc < 0 or v > best:
            best = v
            bc = c
    if best > 0:
        hx = bc // ny
        hy = bc % ny
    else:
        hx = -1
        hy = -1
    # pass 2: the pulse-less good channels near the hit cell join the in-time energy
    # (loops over section, x, y: no integer division per channel)
    for x in range(nx):
        if abs(x - hx) > k:
            continue
        for y in range(ny):
            if abs(y - hy) > k:
                continue
            for j in range(x * ny + y, nch, nc):
                if quiet[j]:
                    e_it[j] = energy[j]
    return nb, hx, hy


@njit(cache=True)
def ecal_kernel(amp, t, consts, window, gate, k, nx, ny, n_bad, pitch):
    """ECAL (n, 2 * nx * ny) (channels flattened in C order; ``consts`` the tuple of
    ``_ecal_in_time``, each (2 * nx * ny,)): every ECAL output of ``reconstruct_calorimeters``.

    ``n_bad`` (n,) is incremented by the number of non-finite channels of each event.
    """
    n, nch = amp.shape
    nc = nx * ny
    ps = np.empty(n, np.float32)
    main = np.empty(n, np.float32)
    tot_e = np.empty(n, np.float32)
    oot = np.empty(n, np.float32)
    trig_ps = np.empty(n, np.float32)
    trig_ecal = np.empty(n, np.float32)
    cell_out = np.empty((n, nx, ny), np.float32)
    hit_ix = np.empty(n, np.int8)
    hit_iy = np.empty(n, np.int8)
    cog_x = np.empty(n, np.float32)
    cog_y = np.empty(n, np.float32)
    win_out = np.empty((n, 3, 3), np.float32)
    buffers = _ecal_buffers(nch)
    _energy, _quiet, e_it, buf_o, buf_g = buffers
    cell = np.empty((nx, ny), np.float32)
    w = np.empty(9, np.float32)
    cx0 = (nx - 1) / 2
    cy0 = (ny - 1) / 2
    for i in range(n):
        nb, hx, hy = _ecal_in_time(amp[i], t[i], consts, window, gate, k, nx, ny, buffers)
        n_bad[i] += nb
        for x in range(nx):
            for y in range(ny):
                v = _F0
                for j in range(x * ny + y, nch, nc):
                    v = v + e_it[j]
                cell_out[i, x, y] = v
                cell[x, y] = max(v, _F0)
        a0 = _pairwise(e_it, nc)
        a1 = _pairwise(e_it[nc:], nc)
        ps[i] = a0
        main[i] = a1
        tot_e[i] = a0 + a1
        oot[i] = _pairwise(buf_o, nch)
        g0 = _pairwise(buf_g, nc)
        trig_ps[i] = g0
        trig_ecal[i] = g0 + _pairwise(buf_g[nc:], nc)
        # centre of gravity of the 3x3 around the hit cell (cell 0 when there is none)
        jx = max(hx, 0)
        jy = max(hy, 0)
        for a in range(3):
            for b in range(3):
                x = jx + a - 1
                y = jy + b - 1
                v = cell[x, y] if (0 <= x < nx and 0 <= y < ny) else _F0
                w[a * 3 + b] = v
                win_out[i, a, b] = v
        tot = _pairwise(w, 9)
        safe = tot if tot > 0 else np.float32(1.0)
        dx = _F0
        dy = _F0
        for a in range(3):
            rs = _F0
            cs = _F0
            for b in range(3):
                rs = rs + w[a * 3 + b]
                cs = cs + w[b * 3 + a]
            off = np.float32(a - 1)
            dx = dx + rs * off
            dy = dy + cs * off
        dx = dx / safe
        dy = dy / safe
        hit_ix[i] = hx
        hit_iy[i] = hy
        if hx >= 0:
            cog_x[i] = np.float32((hx - cx0 + np.float64(dx)) * pitch)
            cog_y[i] = np.float32((hy - cy0 + np.float64(dy)) * pitch)
        else:
            cog_x[i] = _F0
            cog_y[i] = _F0
    return (
        ps,
        main,
        tot_e,
        oot,
        trig_ps,
        trig_ecal,
        cell_out,
        hit_ix,
        hit_iy,
        cog_x,
        cog_y,
        win_out,
    )


@njit(cache=True)
def ecal_energy_kernel(amp, t, consts, window, gate, k, nx, ny, n_bad):
    """The in-time ECAL energy (n,) alone, bit-identical to ``ecal_kernel``'s total (the same
    per-event pass, none of the other outputs): what the blinded regions need."""
    n, nch = amp.shape
    nc = nx * ny
    tot_e = np.empty(n, np.float32)
    buffers = _ecal_buffers(nch)
    e_it = buffers[2]
    for i in range(n):
        nb, _hx, _hy = _ecal_in_time(amp[i], t[i], consts, window, gate, k, nx, ny, buffers)
        n_bad[i] += nb
        tot_e[i] = _pairwise(e_it, nc) + _pairwise(e_it[nc:], nc)
    return tot_e


@njit(cache=True)
def hcal_kernel(amp, t, ped, gain_eff, t0, thr, sthr, usable, window, n_bad):
    """HCAL (n, n_mod, m) (channels of a module flattened): module sums, total, out of time."""
    n, nm, m = amp.shape
    module = np.empty((n, nm), np.float32)
    total = np.empty(n, np.float32)
    oot = np.empty(n, np.float32)
    buf_a = np.empty(m, np.float32)
    buf_o = np.empty(nm * m, np.float32)
    for i in range(n):
        nb = 0
        tot = _F0
        for mod in range(nm):
            for c in range(m):
                e, bad, p, s, dt = _channel(
                    amp[i, mod, c],
                    t[i, mod, c],
                    ped[mod, c],
                    gain_eff[mod, c],
                    t0[mod, c],
                    thr[mod, c],
                    sthr[mod, c],
                    usable[mod, c],
                )
                it = p and dt < window
                nb += bad
                buf_a[c] = e if it else _F0
                buf_o[mod * m + c] = e if (s and not it) else _F0
            me = _pairwise(buf_a, m)
            module[i, mod] = me
            tot = tot + me
        total[i] = tot
        oot[i] = _pairwise(buf_o, nm * m)
        n_bad[i] += nb
    return module, total, oot


@njit(cache=True)
def channel_kernel(amp, t, ped, gain_eff, t0, thr, usable, window, gate, n_bad):
    """A small detector (n, m): in-time energies, in-gate energies, in-time pulse flags."""
    n, m = amp.shape
    e_in = np.empty((n, m), np.float32)
    e_gate = np.empty((n, m), np.float32)
    intime = np.empty((n, m), np.bool_)
    for i in range(n):
        nb = 0
        for c in range(m):
            e, bad, p, _s, dt = _channel(
                amp[i, c], t[i, c], ped[c], gain_eff[c], t0[c], thr[c], thr[c], usable[c]
            )
            it = p and dt < window
            nb += bad
            e_in[i, c] = e if it else _F0
            e_gate[i, c] = e if (dt < gate or not p) else _F0
            intime[i, c] = it
        n_bad[i] += nb
    return e_in, e_gate, intime
