"""The full 2016-2022 exposure (9.37e11 EOT): simulate, run the invisible analysis, background.

::

    python benchmarks/full_exposure.py [--out /work/benchdata/full_exposure] [--jobs 2] [--seed 1]
                                       [--executor dask] [--chunksize 100000]
                                       [--stages simulate,calib,run,background]

Stages (each one reuses what an earlier call left in ``--out``):

1. **simulate**: for every period of ``PERIODS``, the physics runs of its ``published_eot``
   (``na64 simulate --period P --eot E --seed S --jobs J``, one manifest ``OUT/fileset.json``).
   A period whose planned runs are all in the manifest (files present, same seed) is reused.
2. **calib**: ``OUT/calib_truth.json``, the simulation's true constants of all five periods
   (``calibration_from_truth``) plus the shipped ECAL shower profile of the same ECAL geometry
   (2016 for the 6x6 ECAL of 2016-2018, 2022 for the 5x6 ECAL of 2021-2022): a perfect
   calibration, so the figures test the throughput and the background method, not the
   calibration.
3. **run**: ``na64 -q run OUT/fileset.json --analysis invisible --executor EXE --workers J
   --calib OUT/calib_truth.json --no-plots --no-checkpoint --out OUT/run_EXE``, a subprocess:
   wall time, CPU time of it and all its children, events/s and events/s/core.
4. **background**: ``na64 -q background OUT/run_EXE --out OUT/run_EXE/background.json``.

Timings go to ``OUT/timings.json``; the report (cutflow per period, background per period and
summed with stat and syst, throughput) is printed and written to ``OUT/report.md``. The sum of
``published_eot`` is checked against the 9.37e11 EOT of paper 001.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

TOTAL_EOT_2016_2022 = 9.37e11  # paper 001
NA64 = [str(Path(sys.executable).with_name("na64"))]  # the entry point of this environment


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` (stdout+stderr to ``log``); wall s, CPU s of it and its children, load."""
    load0 = os.getloadavg()[0]
    cpu0 = _children_cpu()
    peak = {"process": 0, "total": 0}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        while proc.poll() is None:  # peak RSS of the largest process and of the whole tree
            rss = []
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(proc.pid)
                for p in [top, *top.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        rss.append(p.memory_info().rss)
            peak["process"] = max(peak["process"], max(rss, default=0))
            peak["total"] = max(peak["total"], sum(rss))
            time.sleep(0.5)
        rc = proc.returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {rc}); see {log}")
    return {
        "command": " ".join(cmd),
        "wall_s": round(wall, 1),
        "cpu_s": round(_children_cpu() - cpu0, 1),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "peak_rss_process_mib": round(peak["process"] / 2**20),
        "peak_rss_total_mib": round(peak["total"] / 2**20),
    }


def simulate_all(out: Path, jobs: int, seed: int, timings: dict) -> None:
    from na64reco.conditions import PERIODS
    from na64reco.fileset import load_fileset
    from na64reco.sim.run import SimRequest, plan_runs

    total = sum(p.published_eot for p in PERIODS.values())
    if not math.isclose(total, TOTAL_EOT_2016_2022, rel_tol=1e-9):
        sys.exit(f"PERIODS published_eot sum to {total:.4g}, not {TOTAL_EOT_2016_2022:.4g}")
    manifest = out / "fileset.json"
    sim = timings.setdefault("simulate", {})
    for name, period in PERIODS.items():
        runs = {p.run for p in plan_runs(SimRequest(name, eot=period.published_eot, seed=seed))}
        have = set()
        if manifest.exists():
            have = {
                e.run_min
                for e in load_fileset(manifest).files
                if e.period == name
                and e.kind == "physics"
                and (e.generator or {}).get("seed") == seed
                and Path(e.path).exists()
            }
        if runs <= have:
            print(f"simulate {name}: {len(runs)} runs already in {manifest}, reused", flush=True)
            continue
        cmd = [*NA64, "-q", "simulate", "--period", name, "--eot", f"{period.published_eot:g}",
               "--seed", str(seed), "--jobs", str(jobs), "--out", str(out)]  # fmt: skip
        print(f"simulate {name}: {len(runs)} runs ({period.published_eot:.3g} EOT) ...", flush=True)
        sim[name] = _timed(cmd, out / f"simulate_{name}.log")
        sim[name]["runs"] = len(runs)
        sim[name]["events"] = sum(
            e.events for e in load_fileset(manifest).files if e.period == name
        )
        _save(out / "timings.json", timings)


def write_calibration(out: Path) -> Path:
    import dataclasses

    from na64reco.calibration.io import load_calibration
    from na64reco.calibration.io import write_calibration as write
    from na64reco.calibration.truth import calibration_from_truth
    from na64reco.conditions import PERIODS
    from na64reco.shipped import calibration_path

    path = out / "calib_truth.json"
    shipped = load_calibration(calibration_path())
    profiles = {PERIODS[c.period].geometry.ecal_nx: c.shower_profile for c in shipped.sets}
    sets = [
        dataclasses.replace(
            calibration_from_truth(name), shower_profile=profiles[p.geometry.ecal_nx]
        )
        for name, p in PERIODS.items()
    ]
    write(path, sets, version=1)
    return path


def run(out: Path, executor: str, jobs: int, chunksize: int, timings: dict) -> Path:
    from na64reco.fileset import load_fileset

    run_dir = out / f"run_{executor}"
    events = sum(e.events for e in load_fileset(out / "fileset.json").files if e.kind == "physics")
    cmd = [*NA64, "-q", "run", str(out / "fileset.json"), "--analysis", "invisible",
           "--out", str(run_dir), "--executor", executor, "--workers", str(jobs),
           "--chunksize", str(chunksize), "--calib", str(out / "calib_truth.json"),
           "--no-plots", "--no-checkpoint"]  # fmt: skip
    cores = 1 if executor == "iterative" else jobs
    print(f"run {executor} ({cores} core(s)) on {events:,} events ...", flush=True)
    t = _timed(cmd, out / f"run_{executor}.log")
    summary = _load(run_dir / "summary.json")
    t.update(
        events=events,
        cores=cores,
        ev_per_s=round(events / t["wall_s"]),
        ev_per_s_per_core=round(events / t["wall_s"] / cores),
        ev_per_cpu_s=round(events / t["cpu_s"]) if t["cpu_s"] else None,
        executor_wall_s=summary.get("metrics", {}).get("wall_s"),
        chunks=summary.get("metrics", {}).get("chunks"),
        bytesread=summary.get("metrics", {}).get("bytesread"),
    )
    timings.setdefault("run", {})[executor] = t
    _save(out / "timings.json", timings)
    return run_dir


def background(run_dir: Path, out: Path, timings: dict) -> None:
    cmd = [*NA64, "-q", "background", str(run_dir), "--out", str(run_dir / "background.json")]
    print(f"background on {run_dir} ...", flush=True)
    timings.setdefault("background", {})[run_dir.name] = _timed(cmd, out / "background.log")
    _save(out / "timings.json", timings)


def report(out: Path, executor: str, timings: dict) -> str:
    """Markdown: exposure, throughput, cutflow, background per period and summed."""
    lines = ["# Full 2016-2022 exposure", ""]
    from na64reco.fileset import load_fileset

    physics = [e for e in load_fileset(out / "fileset.json").files if e.kind == "physics"]
    files_bytes = sum(Path(e.path).stat().st_size for e in physics)
    sim = timings.get("simulate", {})
    if sim:
        lines += [
            "| period | runs | events | sim wall s | sim CPU s | load |",
            "|---|---|---|---|---|---|",
        ]
        for p, t in sim.items():
            lines.append(
                f"| {p} | {t['runs']} | {t['events']:,} | {t['wall_s']} | {t['cpu_s']} | "
                f"{t['load_before']}-{t['load_after']} |"
            )
        lines.append("")
    run_dir = out / f"run_{executor}"
    summary = _load(run_dir / "summary.json")
    t = timings.get("run", {}).get(executor)
    if t:
        lines += [
            f"`{t['command']}`",
            "",
            f"* events {t['events']:,} in {len(summary.get('accounting', []))} files, "
            f"{files_bytes / 1e9:.2f} GB ({files_bytes / t['events']:.0f} B/event)",
            f"* wall {t['wall_s']} s (executor {t['executor_wall_s']} s), CPU {t['cpu_s']} s, "
            f"load {t['load_before']} -> {t['load_after']}",
            f"* {t['ev_per_s']:,} ev/s, {t['ev_per_s_per_core']:,} ev/s/core "
            f"({t['cores']} core(s)), {t['ev_per_cpu_s']:,} ev/CPU-s",
            f"* peak RSS: largest process {t['peak_rss_process_mib']} MiB, all processes "
            f"{t['peak_rss_total_mib']} MiB",
            "",
        ]
    cutflow = summary.get("cutflow", {})
    if cutflow:
        stages = list(next(iter(cutflow.values())))
        lines += [
            "| stage | " + " | ".join(cutflow) + " | total |",
            "|---" * (len(cutflow) + 2) + "|",
        ]
        for s in stages:
            vals = [cutflow[p].get(s) for p in cutflow]
            tot = "blinded" if any(v is None for v in vals) else f"{sum(vals):,}"
            cells = ["blinded" if v is None else f"{v:,}" for v in vals]
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {tot} |")
        lines.append("")
    bkg = _load(run_dir / "background.json")
    if bkg:
        lines += [
            "| period | EOT live | method | background | stat | syst |",
            "|---|---|---|---|---|---|",
        ]
        expected = eot = stat2 = syst = 0.0
        bounds = []
        for p in bkg["periods"]:
            total = p["total"]
            bound = p["sideband"].get("kind") == "upper_bound"  # < 5 sideband events: no fit
            stat = f"< {total['stat']:.3g} (90% CL)" if bound else f"{total['stat']:.3g}"
            lines.append(
                f"| {p['period']} | {p['eot']['eot_live']:.3g} | {total['method']} | "
                f"{total['expected']:.3g} | {stat} | {total['syst']:.3g} |"
            )
            eot += p["eot"]["eot_live"]
            expected += total["expected"]
            syst += total["syst"]  # fully correlated between periods (conservative)
            if bound:
                bounds.append(p["period"])
            else:
                stat2 += total["stat"] ** 2
        note = f" + the bounds of {', '.join(bounds)}" if bounds else ""
        lines.append(
            f"| all | {eot:.3g} | sum | {expected:.3g} | {math.sqrt(stat2):.3g} (quadrature, "
            f"fitted periods){note} | {syst:.3g} (linear) |"
        )
        lines.append("")
    text = "\n".join(lines)
    (out / "report.md").write_text(text + "\n")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/work/benchdata/full_exposure"))
    ap.add_argument("--jobs", type=int, default=2, help="simulation jobs and run workers")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--executor", default="dask", choices=["iterative", "futures", "dask"])
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--stages", default="simulate,calib,run,background")
    args = ap.parse_args()
    stages = set(args.stages.split(","))
    unknown = stages - {"simulate", "calib", "run", "background"}
    if unknown:
        sys.exit(f"unknown stage(s) {sorted(unknown)}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings = _load(out / "timings.json")
    print(f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, out {out}", flush=True)
    if "simulate" in stages:
        simulate_all(out, args.jobs, args.seed, timings)
    if "calib" in stages or not (out / "calib_truth.json").exists():
        write_calibration(out)
    run_dir = out / f"run_{args.executor}"
    if "run" in stages:
        run_dir = run(out, args.executor, args.jobs, args.chunksize, timings)
    if "background" in stages:
        background(run_dir, out, timings)
    print(report(out, args.executor, timings))


if __name__ == "__main__":
    main()
