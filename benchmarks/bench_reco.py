"""Benchmark of the reconstruction: events/s per core, side by side with plain uproot reading.

    python benchmarks/bench_reco.py [--eot 2e9] [--period 2016] [--repeat 3] [--no-sim]

For the shipped physics files (data_samples/) and one larger simulated physics run written to a
temporary folder (``--eot`` of ``--period`` via ``na64reco.sim.run.simulate``), in one process
on one core, it times (best of ``--repeat``):

* read: ``uproot`` reading the columns the reconstruction needs into numpy (calorimeters) or
  awkward (MM/straw hits), nothing else;
* calo: ``reconstruct_calorimeters`` + ``emulate_trigger`` + ``shower_chi2`` on those arrays;
* tracks: ``na64reco.reco.tracking.reconstruct_tracks`` when the module exists (the hook: a
  missing module or a failure is reported in the table, not raised);
* read+reco: the sum, and its throughput relative to read-only. Target (issue 3): reconstruction
  costs no more than the read, i.e. read+reco throughput >= 50% of read-only.

The shower profile is derived once from a simulated ecal-scan run (not timed). The script always
exits 0; the verdict is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

from na64reco.calibration.truth import calibration_from_truth
from na64reco.conditions import get_period
from na64reco.reco.calorimeters import RAW_BRANCHES, reconstruct_calorimeters
from na64reco.reco.showershape import derive_shower_profile, shower_chi2
from na64reco.sim.run import SimRequest, generate_run, plan_runs, simulate
from na64reco.trigger import emulate_trigger

ROOT = Path(__file__).resolve().parents[1]
HIT_BRANCHES = ("mm_station", "mm_plane", "mm_strip", "mm_amp", "mm_t")
ST_BRANCHES = ("st_station", "st_plane", "st_wire", "st_t")

try:  # the tracking hook
    from na64reco.reco.tracking import reconstruct_tracks
except ImportError as exc:  # pragma: no cover - depends on the tracking helper's progress
    reconstruct_tracks = None
    TRACKING_MISSING = str(exc)
else:
    TRACKING_MISSING = ""


def _best(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _read_calo(path):
    with uproot.open(path) as f:
        return f["events"].arrays(["run", *RAW_BRANCHES], library="np")


def _read_hits(path):
    with uproot.open(path) as f:
        t = f["events"]
        mm = t.arrays(list(HIT_BRANCHES), library="ak")
        st = t.arrays(list(ST_BRANCHES), library="ak")
    mm = ak.zip({k[3:]: mm[k] for k in HIT_BRANCHES})
    st = ak.zip({k[3:]: st[k] for k in ST_BRANCHES})
    return mm, st


def _profile(period):
    cs = calibration_from_truth(period)
    req = SimRequest(period=period, kind="ecal-scan", events=10000, seed=11)
    a, _ = generate_run(req, plan_runs(req)[0])
    r = reconstruct_calorimeters(a, cs)
    pitch = get_period(period).geometry.ecal_cell_pitch_cm
    u = cs.ecal.usable.all(axis=0)
    return derive_shower_profile(
        r["ecal_cell_e"], r["hit_ix"], r["hit_iy"], r["cog_x"], r["cog_y"], pitch, u
    )


def bench_file(path, period, repeat, profile):
    cs = calibration_from_truth(period)
    p = get_period(period)
    pitch = p.geometry.ecal_cell_pitch_cm
    u = cs.ecal.usable.all(axis=0)
    t_read, arrays = _best(lambda: _read_calo(path), repeat)
    n = len(arrays["run"])

    def calo():
        r = reconstruct_calorimeters(arrays, cs)
        emulate_trigger(r, p)
        shower_chi2(
            r["ecal_cell_e"], r["hit_ix"], r["hit_iy"], r["cog_x"], r["cog_y"], profile, pitch, u
        )
        return r

    t_calo, _ = _best(calo, repeat)
    row = {"file": Path(path).name, "events": n, "read": t_read, "calo": t_calo}
    t_hits, (mm, st) = _best(lambda: _read_hits(path), repeat)
    row["read_hits"] = t_hits
    if reconstruct_tracks is None:
        row["tracks"] = None
        row["tracks_note"] = f"not available ({TRACKING_MISSING})"
    else:
        try:
            reconstruct_tracks(mm, st, cs, p.geometry)  # warm-up (numba compilation)
            row["tracks"], _ = _best(lambda: reconstruct_tracks(mm, st, cs, p.geometry), repeat)
            row["tracks_note"] = ""
        except Exception as exc:
            row["tracks"] = None
            row["tracks_note"] = f"failed: {type(exc).__name__}: {exc}"
    return row


def _table(rows):
    head = (
        f"{'file':44s} {'events':>8s} {'read ev/s':>11s} {'calo ev/s':>11s} {'read+calo':>10s}"
        f" {'ratio':>6s} | {'read(all)':>10s} {'trk ev/s':>10s} {'all ev/s':>10s} {'ratio':>6s}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        n = r["events"]
        rc = n / (r["read"] + r["calo"])
        ratio = rc / (n / r["read"])
        read_all = r["read"] + r["read_hits"]
        if r["tracks"] is not None:
            all_rate = n / (read_all + r["calo"] + r["tracks"])
            trk = f"{n / r['tracks']:10.3g}"
            ratio_all = f"{all_rate / (n / read_all):6.2f}"
            all_s = f"{all_rate:10.3g}"
        else:
            trk, all_s, ratio_all = f"{'n/a':>10s}", f"{'n/a':>10s}", f"{'n/a':>6s}"
        print(
            f"{r['file']:44s} {n:8d} {n / r['read']:11.3g} {n / r['calo']:11.3g} {rc:10.3g}"
            f" {ratio:6.2f} | {n / read_all:10.3g} {trk} {all_s} {ratio_all}"
        )
        if r["tracks_note"]:
            print(f"    tracking: {r['tracks_note']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eot", type=float, default=2e9)
    ap.add_argument("--period", default="2016")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-sim", action="store_true", help="only the shipped files")
    args = ap.parse_args()
    files = [
        (ROOT / "data_samples" / "na64sim_2016_physics_run01800.root", "2016"),
        (ROOT / "data_samples" / "na64sim_2022_physics_run06035.root", "2022"),
    ]
    profiles = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sim:
            req = SimRequest(period=args.period, eot=args.eot, seed=7)
            simulate(req, tmp)
            files += [(f, args.period) for f in sorted(Path(tmp).glob("*.root"))]
        for path, period in files:
            if period not in profiles:
                profiles[period] = _profile(period)
            rows.append(bench_file(path, period, args.repeat, profiles[period]))
        print("one core, best of", args.repeat, "| ratio = read+reco throughput / read-only")
        print("calo = reconstruct_calorimeters + emulate_trigger + shower_chi2")
        _table(rows)
    worst = min(r["events"] / (r["read"] + r["calo"]) / (r["events"] / r["read"]) for r in rows)
    verdict = "PASS" if worst >= 0.5 else "FAIL"
    print(f"calorimeter target read+reco >= 50% of read-only: {verdict} (worst {worst:.2f})")


if __name__ == "__main__":
    main()
