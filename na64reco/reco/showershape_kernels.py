"""Numba kernel of the shower-shape chi2 (``na64reco.reco.showershape.shower_chi2``).

One pass per event over the 3x3 cells instead of a dozen full-array numpy passes with fancy
indexing. Bit-identity with the numpy formulation (``showershape.shower_chi2_numpy``, kept as the
reference; ``tests/test_reco_kernel_equivalence.py`` compares them): the 3x3 sum and the
fractions are float32 like numpy's on the float32 cell energies, the offsets and the pulls are
float64, and both sums reproduce numpy's ``add.reduce`` order over 9 contiguous values
(``calorimeter_kernels._pairwise``: pairwise with 8 partial sums, then the 9th).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["shower_chi2_kernel"]

_F0 = np.float32(0.0)


@njit(cache=True, inline="always")
def _sum9(buf):
    """numpy's add.reduce of 9 contiguous values, in the buffer's precision: pairwise with 8
    partial sums, then the 9th (numpy's leading ``0 +`` only turns -0.0 into 0.0, which no
    comparison here can see)."""
    s = ((buf[0] + buf[1]) + (buf[2] + buf[3])) + ((buf[4] + buf[5]) + (buf[6] + buf[7]))
    return s + buf[8]


@njit(cache=True, inline="always")
def _bin(offset, edges):
    """np.clip(np.searchsorted(edges, offset, side="right") - 1, 0, len(edges) - 2)."""
    nb = len(edges) - 1
    if offset != offset:  # NaN sorts after every edge
        return nb - 1
    k = 0
    while k < len(edges) and edges[k] <= offset:
        k += 1
    return min(max(k - 1, 0), nb - 1)


@njit(cache=True)
def shower_chi2_kernel(cells, hit_ix, hit_iy, cog_x, cog_y, edges, mean, sigma, usable, pitch,
                       no_shower):  # fmt: skip
    """chi2 / ndf (float32) per event; ``cells`` (n, nx, ny) float32, ``mean``/``sigma``
    (nb, nb, 3, 3) float64 with the floor already applied to ``sigma``, ``usable`` (nx, ny)."""
    n, nx, ny = cells.shape
    out = np.empty(n, np.float32)
    win = np.empty(9, np.float32)
    pull2 = np.empty(9, np.float64)
    use = np.empty(9, np.bool_)
    cx0 = (nx - 1) / 2
    cy0 = (ny - 1) / 2
    for i in range(n):
        hx = np.int64(hit_ix[i])
        hy = np.int64(hit_iy[i])
        ix = min(max(hx, 0), nx - 1)
        iy = min(max(hy, 0), ny - 1)
        ndf = 0
        for a in range(3):
            for b in range(3):
                x = ix + a - 1
                y = iy + b - 1
                inside = 0 <= x < nx and 0 <= y < ny
                win[a * 3 + b] = cells[i, x, y] if inside else _F0
                u = inside and usable[x, y]
                use[a * 3 + b] = u
                ndf += u
        tot = _sum9(win)
        if tot <= 0 or hx < 0 or ndf == 0:
            out[i] = no_shower
            continue
        ox = np.float64(cog_x[i]) - (np.float64(hx) - cx0) * pitch
        oy = np.float64(cog_y[i]) - (np.float64(hy) - cy0) * pitch
        bx = _bin(ox, edges)
        by = _bin(oy, edges)
        for c in range(9):
            if use[c]:
                frac = win[c] / tot
                d = (np.float64(frac) - mean[bx, by, c // 3, c % 3]) / sigma[bx, by, c // 3, c % 3]
                pull2[c] = d * d
            else:
                pull2[c] = 0.0
        out[i] = np.float32(_sum9(pull2) / max(ndf, 1))
    return out
