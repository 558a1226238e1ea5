"""ABCD estimate with the sidebands A and C of paper 002.

Regions in the (E_ECAL, E_HCAL) plane after every cut but the signal-region ones (the plane
histogram's stage just before the first signal-region cut, ``veto`` for ``invisible``):

* A: E_ECAL < box, E_HCAL > zero   * C: E_ECAL > box, E_HCAL < zero
* D: E_ECAL > box, E_HCAL > zero   * B (the box): E_ECAL < box, E_HCAL < zero (blinded)

with the box edges (E_ECAL, and the HCAL "zero energy", 1 GeV) from the cut set's signal box.

N_box = k x N_A N_C / N_D with the closure factor k = (true box) / (A C / D) from a truth-level
simulated plane at nominal rates (``closure_factor``). The ABCD assumption (E_ECAL and E_HCAL
independent) does not hold in this simulation: A and D are filled by hadron electroproduction in
the ECAL, C and the box by upstream interactions with escaping secondaries; k carries that, with
its (large) uncertainty, and the sideband fit stays the primary method (as in paper 002, where
ABCD was the second, cross-check method).
"""

from __future__ import annotations

import numpy as np

from na64reco.background.truth import truth_clean_plane

CLOSURE_UPSTREAM_SCALE = 300.0  # [choose] upstream interactions enhanced, weighted 1/scale
CLOSURE_SEED = 12345


def region_counts(ecal_edges, hcal_edges, counts, box_hi: float, hcal_zero: float):
    """Counts of A, C, D from a 2D histogram (flow bins included; edges must contain the cuts).

    ``counts`` has shape (len(ecal_edges)+1, len(hcal_edges)+1) (underflow, bins, overflow).
    """
    ecal_edges = np.asarray(ecal_edges)
    hcal_edges = np.asarray(hcal_edges)
    for edges, cut, name in ((ecal_edges, box_hi, "E_ECAL"), (hcal_edges, hcal_zero, "E_HCAL")):
        if not np.any(np.isclose(edges, cut)):
            raise ValueError(f"{name} threshold {cut} is not a bin edge of the plane histogram")
    ie = int(np.flatnonzero(np.isclose(ecal_edges, box_hi))[0]) + 1  # +1: underflow bin
    ih = int(np.flatnonzero(np.isclose(hcal_edges, hcal_zero))[0]) + 1
    c = np.asarray(counts)
    return {
        "A": int(c[:ie, ih:].sum()),
        "C": int(c[ie:, :ih].sum()),
        "D": int(c[ie:, ih:].sum()),
    }


def abcd_prediction(n_a: float, n_c: float, n_d: float, k: float = 1.0, k_err: float = 0.0) -> dict:
    """N_box = k N_A N_C / N_D; stat from Poisson errors of A, C, D; syst from k."""
    if n_d <= 0:
        return {"expected": None, "stat": None, "syst": None, "note": "N_D = 0: undefined"}
    raw = n_a * n_c / n_d
    rel = np.sqrt(sum(1.0 / n for n in (n_a, n_c, n_d) if n > 0))
    return {
        "raw": raw,
        "expected": k * raw,
        "stat": k * raw * rel,
        "syst": raw * k_err,
        "closure": k,
        "closure_err": k_err,
    }


def closure_factor(
    period: str,
    box_hi: float,
    hcal_zero: float,
    *,
    eot: float = 1e9,
    upstream_scale: float = CLOSURE_UPSTREAM_SCALE,
    seed: int = CLOSURE_SEED,
    use_table: bool = True,
) -> dict:
    """k = true box / (A C / D) on a truth-level plane at nominal rates.

    The upstream interactions are simulated ``upstream_scale`` times enhanced and weighted
    1 / upstream_scale (the box and C would otherwise be empty); uncertainties from sum w^2.
    With ``use_table``, the shipped result for exactly these arguments and this code
    (``na64reco.background.closure_table``) when there is one, else simulated.
    """
    if use_table:
        from na64reco.background.closure_table import lookup

        shipped = lookup(
            period,
            box_hi=box_hi,
            hcal_zero=hcal_zero,
            eot=eot,
            upstream_scale=upstream_scale,
            seed=seed,
        )
        if shipped is not None:
            return shipped
    plane = truth_clean_plane(period, eot, seed, {"upstream_interaction": upstream_scale})
    names = list(plane["names"])
    up = names.index("upstream_interaction")
    w = np.where(plane["process"] == up, 1.0 / upstream_scale, 1.0)
    e, h = plane["ecal"], plane["hcal"]
    regions = {
        "box": (e < box_hi) & (h < hcal_zero),
        "A": (e < box_hi) & (h >= hcal_zero),
        "C": (e >= box_hi) & (h < hcal_zero),
        "D": (e >= box_hi) & (h >= hcal_zero),
    }
    s = {k: float(w[m].sum()) for k, m in regions.items()}
    v = {k: float((w[m] ** 2).sum()) for k, m in regions.items()}
    out = {
        "period": period,
        "eot": eot,
        "upstream_scale": upstream_scale,
        "seed": seed,
        "weighted": s,
    }
    if min(s["A"], s["C"], s["D"], s["box"]) <= 0:
        out.update(k=None, k_err=None, note="an empty region: closure undefined")
        return out
    pred = s["A"] * s["C"] / s["D"]
    k = s["box"] / pred
    rel = np.sqrt(sum(v[r] / s[r] ** 2 for r in ("box", "A", "C", "D")))
    out.update(k=float(k), k_err=float(k * rel), prediction=pred)
    return out


__all__ = ["abcd_prediction", "closure_factor", "region_counts"]
