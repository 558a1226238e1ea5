"""Coverage of the sideband extrapolation on an ensemble of simulated datasets.

Each dataset: one run period, ``--eot`` electrons on target with the upstream-interaction rate
scaled by ``--scale`` (so the box holds several events), a different seed; simulated with the
truth-level fast path ``na64reco.background.truth`` (the generators, pile-up and hardware trigger
of na64reco.sim, no digitisation: see that module for why and why it is exact for the clean
plane). Only upstream interactions are generated: the other processes put < 1e-3 of the box
expectation in at these scales (expected_box_background).

Truth: the expected box count = the true box count of a sample ``--truth-factor`` times the
dataset exposure (another seed) pooled with the true box counts of the ensemble, per dataset;
expected_box_background(period, eot) x scale is printed as a cross-check (its own MC error is
~30% at the default statistics).

Pull = (estimate - truth) / stat (its side facing the truth)
for the nominal exponential fit (the simulated spectrum is
exponential in the missing energy, so the fit model is right and the statistical error alone
must cover); the pull with stat (+) syst is reported too.

    python benchmarks/validate_background_coverage.py --datasets 200 --json coverage.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from na64reco.background.sideband import default_fit_range, sideband_estimate
from na64reco.background.truth import truth_clean_plane
from na64reco.conditions import get_period
from na64reco.cutsets import load_cutset


def box(period: str) -> tuple[float, float]:
    """(E_ECAL box edge, E_HCAL zero-energy edge) of the shipped invisible cut set."""
    cutset = load_cutset("invisible")
    return cutset.box_upper_edge("ecal_e", period), cutset.box_upper_edge("hcal_e", period)


def one_dataset(period: str, eot: float, scale: float, seed: int, variations: bool) -> dict:
    d = truth_clean_plane(
        period, eot, seed, {"upstream_interaction": scale}, processes=("upstream_interaction",)
    )
    e, h = d["ecal"], d["hcal"]
    box_hi, hcal_zero = box(period)
    zero = h < hcal_zero
    fit_range = default_fit_range(box_hi, get_period(period).trigger.ecal_max_gev)
    est = sideband_estimate(
        e[zero & (e >= box_hi)], (0.0, box_hi), fit_range, variations=variations
    )
    return {
        "seed": seed,
        "true_box": int(np.count_nonzero(zero & (e < box_hi))),
        "n_sideband": est["n_sideband"],
        "expected": est["expected"],
        "stat": est["stat"],
        "stat_up": est.get("stat_up", float("nan")),
        "stat_down": est.get("stat_down", float("nan")),
        "syst": est["syst"],
        "kind": est["kind"],
    }


def run(
    period: str = "2018",
    eot: float = 1e10,
    scale: float = 1000.0,
    datasets: int = 10,
    truth_factor: int = 20,
    variations: bool = False,
    seed0: int = 1000,
) -> dict:
    t0 = time.perf_counter()
    rows = [one_dataset(period, eot, scale, seed0 + i, variations) for i in range(datasets)]
    big = truth_clean_plane(
        period,
        eot * truth_factor,
        7,
        {"upstream_interaction": scale},
        processes=("upstream_interaction",),
    )
    box_hi, hcal_zero = box(period)
    n_big = int(np.count_nonzero((big["hcal"] < hcal_zero) & (big["ecal"] < box_hi)))
    pooled = n_big + sum(r["true_box"] for r in rows)  # same conditions: pool the truth
    truth = pooled / (truth_factor + datasets)
    fits = [r for r in rows if r["kind"] == "fit"]
    est = np.array([r["expected"] for r in fits])
    stat = np.array([r["stat"] for r in fits])
    syst = np.array([r["syst"] for r in fits])
    # asymmetric (log-normal) stat errors: the side facing the truth
    err = np.array([r["stat_up"] if r["expected"] < truth else r["stat_down"] for r in fits])
    pull = (est - truth) / err
    pull_sym = (est - truth) / stat
    pull_tot = (est - truth) / np.hypot(stat, syst)
    return {
        "period": period,
        "eot": eot,
        "scale": scale,
        "datasets": datasets,
        "fitted": len(fits),
        "truth": truth,
        "truth_err": float(np.sqrt(pooled) / (truth_factor + datasets)),
        "mean_true_box": float(np.mean([r["true_box"] for r in rows])),
        "mean_sideband": float(np.mean([r["n_sideband"] for r in rows])),
        "mean_estimate": float(est.mean()),
        "pull_mean": float(pull.mean()),
        "pull_mean_err": float(pull.std(ddof=1) / np.sqrt(len(pull))),
        "pull_width": float(pull.std(ddof=1)),
        "pull_symmetric_mean": float(pull_sym.mean()),
        "pull_symmetric_width": float(pull_sym.std(ddof=1)),
        "pull_total_mean": float(pull_tot.mean()),
        "pull_total_width": float(pull_tot.std(ddof=1)),
        "wall_s": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", default="2018")
    ap.add_argument("--eot", type=float, default=1e10)
    ap.add_argument("--scale", type=float, default=1000.0)
    ap.add_argument("--datasets", type=int, default=10)
    ap.add_argument("--truth-factor", type=int, default=20)
    ap.add_argument("--variations", action="store_true", help="also the syst variations")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    res = run(a.period, a.eot, a.scale, a.datasets, a.truth_factor, a.variations)
    from na64reco.sim.validation import expected_box_background

    res["expected_box_background_x_scale"] = (
        expected_box_background(a.period, a.eot)["upstream_interaction"] * a.scale
    )
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
    ok = abs(res["pull_mean"]) < 0.2 and 0.8 < res["pull_width"] < 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
