"""Benchmark of the event reconstruction: events/s per core, side by side with plain uproot.

    python benchmarks/bench_reco.py [--eot 8e8] [--period 2016] [--repeat 5] [--no-sim]

For the shipped physics files (``data_samples/*physics*.root``, constants
``calib/na64sim-2016-2022.json``) and one larger simulated physics run written to a temporary
folder (``--eot`` of ``--period`` with ``na64reco.sim.run.simulate``; the first file of the
run), in one process pinned to one core, it times (best of ``--repeat``):

* read: plain ``uproot.open(f)["events"].arrays(<raw columns>, library="np")`` of the columns
  ``reconstruct_event`` needs (calorimeter amplitudes and times, ``run``, ``trigger``), the MM
  and straw hit collections read as awkward (``library="ak"``) and zipped into records;
* reco: ``na64reco.reco.event.reconstruct_event`` (calorimeters, shower chi2, tracking and
  momentum, trigger emulation) on those arrays, after one warm-up call (numba compilation or
  cache load);
* read+reco: both, back to back.

Target (issue 3): reconstruction of all quantities costs no more than the read itself, i.e.
read+reco throughput >= 50% of read-only throughput. The script prints the verdict and always
exits 0.
"""

from __future__ import annotations

import os

# one core: no BLAS/OpenMP threads, and the process pinned below (before numpy is imported)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402

from na64reco.calibration.io import load_calibration  # noqa: E402
from na64reco.reco.calorimeters import RAW_BRANCHES  # noqa: E402
from na64reco.reco.event import reconstruct_event  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CALIB = ROOT / "calib" / "na64sim-2016-2022.json"
FIXED = ("run", "trigger", *RAW_BRANCHES)
HITS = {
    "mm": ("mm_station", "mm_plane", "mm_strip", "mm_amp", "mm_t"),
    "st": ("st_station", "st_plane", "st_wire", "st_t"),
}
TARGET = 0.5


def _pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def _best(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def read(path) -> dict:
    """The raw columns reconstruct_event needs, with plain uproot."""
    with uproot.open(path) as f:
        tree = f["events"]
        out = tree.arrays(list(FIXED), library="np")
        jagged = tree.arrays([b for bs in HITS.values() for b in bs], library="ak", how=dict)
    for coll, branches in HITS.items():
        out[coll] = ak.zip({b[3:]: jagged[b] for b in branches}, depth_limit=2)
    return out


def bench_file(path, db, repeat) -> dict:
    t_read, arrays = _best(lambda: read(path), repeat)
    cset = db.for_run(int(arrays["run"][0]))
    reconstruct_event(arrays, cset)  # warm-up: numba compilation / cache load

    def both():
        a = read(path)
        return reconstruct_event(a, db.for_run(int(a["run"][0])))

    t_reco, _ = _best(lambda: reconstruct_event(arrays, cset), repeat)
    t_both, _ = _best(both, repeat)
    n = len(arrays["run"])
    return {"file": Path(path).name, "events": n, "read": t_read, "reco": t_reco, "both": t_both}


def _table(rows) -> float:
    head = (
        f"{'file':40s} {'events':>7s} {'read ev/s':>10s} {'reco ev/s':>10s} "
        f"{'read+reco':>10s} {'ratio':>6s} {'verdict':>7s}"
    )
    print(head)
    print("-" * len(head))
    worst = float("inf")
    for r in rows:
        n = r["events"]
        ratio = r["read"] / r["both"]  # (read+reco throughput) / (read-only throughput)
        worst = min(worst, ratio)
        print(
            f"{r['file']:40s} {n:7d} {n / r['read']:10.4g} {n / r['reco']:10.4g} "
            f"{n / r['both']:10.4g} {ratio:6.2f} {'PASS' if ratio >= TARGET else 'FAIL':>7s}"
        )
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eot", type=float, default=8e8, help="EOT of the simulated run (8e8)")
    ap.add_argument("--period", default="2016", help="period of the simulated run (2016)")
    ap.add_argument("--repeat", type=int, default=5, help="best of N (5)")
    ap.add_argument("--no-sim", action="store_true", help="only the shipped files")
    args = ap.parse_args()
    pinned = _pin_one_core()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, awkward {ak.__version__}, "
        f"uproot {uproot.__version__}, numba {numba.__version__}"
    )
    print(f"nproc {os.cpu_count()}, {pinned}, best of {args.repeat}")
    db = load_calibration(CALIB)
    files = sorted((ROOT / "data_samples").glob("*physics*.root"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sim:
            from na64reco.sim.run import SimRequest, simulate

            t = time.perf_counter()
            simulate(SimRequest(period=args.period, eot=args.eot, seed=7), tmp)
            sim = sorted(Path(tmp).glob("*.root"))[:1]
            print(f"simulated {args.period} {args.eot:.3g} EOT in {time.perf_counter() - t:.0f} s")
            files += sim
        for path in files:
            rows.append(bench_file(path, db, args.repeat))
        print()
        print("events/s on one core; reco = reconstruct_event (calorimeters, shower chi2,")
        print("tracking, trigger emulation); ratio = read+reco throughput / read-only throughput")
        worst = _table(rows)
    verdict = "PASS" if worst >= TARGET else "FAIL"
    print(f"\ntarget read+reco >= {TARGET:.0%} of read-only: {verdict} (worst ratio {worst:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
