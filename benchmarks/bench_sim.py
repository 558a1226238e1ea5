"""Benchmark of the fast simulation: recorded events per second per core, and the projection to
the full 2016-2018 exposure.

    python benchmarks/bench_sim.py [--period 2018] [--eot 5e9] [--jobs 2] [--out DIR] [--keep]

What it measures, all in one run (see benchmarks/README.md for the meaning of every number):

1. ``simulate()`` of ``--eot`` physics EOT with jobs=1 and jobs=``--jobs`` into separate folders:
   recorded events, wall and CPU time, events/s, events/s per core, events per EOT, bytes/event.
2. A stage breakdown of one run, in-process: the real ``generate_run`` with its stage functions
   wrapped by timers (process generation, pile-up overlay, trigger, selection, digitisation,
   tracker hits), then ``write_events``.
3. Plain uproot reading of the produced files (all branches, calorimeter branches only), the
   comparison the project standard asks for.
4. The projection to the full 2016-2018 exposure (sum of ``published_eot`` x events/EOT per
   period, one run of each period measured here) at the measured multi-job throughput, against
   the 10-minute target.
5. Versions and the machine.

Timings go here, never in tests. The script exits 0 whatever the verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

import na64reco
from na64reco.conditions import PERIODS
from na64reco.eventtree import write_events
from na64reco.sim import generators as gen
from na64reco.sim import hardware
from na64reco.sim import record as simrecord
from na64reco.sim import run as simrun
from na64reco.sim.batch import EventBatch
from na64reco.sim.run import SimRequest, generate_run, plan_runs, run_metadata, simulate

TARGET_S = 600.0  # the issue: the full 2016-2018 recorded data in under 10 minutes
TARGET_PERIODS = ("2016", "2017", "2018")
DEFAULT_RUNS = 8  # default --eot: this many runs of the chosen period (~1-2 minutes in all)
CALO_PREFIXES = ("ecal_", "hcal_")  # "calorimeter branches": ECAL and HCAL amplitudes and times

# the stages of the breakdown, in pipeline order
STAGES = (
    "process generation",
    "pile-up overlay",
    "trigger",
    "selection & ordering",
    "digitisation",
    "tracker hits",
    "other (RNG, sort, summary)",
    "writing (ZSTD ROOT)",
)


# --- helpers -------------------------------------------------------------------------------------


def _fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print(line)
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def _cpu_now() -> float:
    """CPU seconds of this process plus its finished children (the pool workers)."""
    own = time.process_time()
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + ch.ru_utime + ch.ru_stime


def _run_eot(period: str) -> float:
    p = PERIODS[period]
    return p.spills_per_run * p.intensity_per_spill


def _files_bytes(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths)


# --- 1. simulate() with 1 and N jobs -------------------------------------------------------------


def bench_simulate(req: SimRequest, out: Path, jobs: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    cpu0, t0 = _cpu_now(), time.perf_counter()
    summaries = simulate(req, out, jobs=jobs)
    wall = time.perf_counter() - t0
    cpu = _cpu_now() - cpu0
    events = sum(s["events"] for s in summaries)
    paths = [s["path"] for s in summaries]
    return {
        "jobs": jobs,
        "runs": len(summaries),
        "events": events,
        "wall": wall,
        "cpu": cpu,
        "load": load,
        "cpu_rate": events / cpu,
        "rate": events / wall,
        "per_core": events / wall / jobs,
        "per_eot": events / req.eot,
        "bytes_per_event": _files_bytes(paths) / max(events, 1),
        "paths": paths,
        "per_run_events": [s["events"] for s in summaries],
    }


# --- 2. stage breakdown of one run ---------------------------------------------------------------


class _StageTimer:
    """Wraps the stage functions generate_run calls; only the outermost wrapped call is timed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0

    def wrap(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t0
                self._depth -= 1

        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StageTimer]:
        # (namespace, attribute, stage): the names generate_run looks up at call time
        targets = [
            (gen, "generate_beam_trigger", "process generation"),
            (gen, "generate_random_trigger", "process generation"),
            (gen, "overlay_pileup", "pile-up overlay"),
            (hardware, "analogue_trigger", "trigger"),
            (hardware, "digitize", "digitisation"),
            (hardware, "truth_deposits", "digitisation"),
            (simrecord, "simulate_tracker_hits", "tracker hits"),
        ]
        saved = [(ns, name, getattr(ns, name)) for ns, name, _ in targets]
        saved_gens = dict(gen.BACKGROUND_GENERATORS)
        saved_concat = EventBatch.__dict__["concatenate"]
        saved_take = EventBatch.__dict__["take"]
        try:
            for ns, name, stage in targets:
                setattr(ns, name, self.wrap(stage, getattr(ns, name)))
            for key, fn in saved_gens.items():
                gen.BACKGROUND_GENERATORS[key] = self.wrap("process generation", fn)
            EventBatch.concatenate = classmethod(
                self.wrap("process generation", saved_concat.__func__)
            )
            EventBatch.take = self.wrap("selection & ordering", saved_take)
            yield self
        finally:
            for ns, name, fn in saved:
                setattr(ns, name, fn)
            gen.BACKGROUND_GENERATORS.clear()
            gen.BACKGROUND_GENERATORS.update(saved_gens)
            EventBatch.concatenate = saved_concat
            EventBatch.take = saved_take


def bench_breakdown(period: str, out: Path, seed: int) -> dict:
    """One run of ``period``, generated and written in this process, timed by stage."""
    req = SimRequest(period=period, kind="physics", seed=seed, eot=_run_eot(period))
    plan = plan_runs(req)[0]
    timer = _StageTimer()
    t0 = time.perf_counter()
    with timer.installed():
        arrays, summary = generate_run(req, plan)
    t_gen = time.perf_counter() - t0
    path = out / simrun.file_name(req, plan.run)
    t1 = time.perf_counter()
    write_events(path, arrays, run_metadata(req, plan, summary))
    t_write = time.perf_counter() - t1
    stages = dict(timer.seconds)
    stages["other (RNG, sort, summary)"] = t_gen - sum(stages.values())
    stages["writing (ZSTD ROOT)"] = t_write
    return {
        "period": period,
        "run": plan.run,
        "events": summary["events"],
        "generated": sum(summary["generated"].values()),
        "total": t_gen + t_write,
        "stages": stages,
    }


# --- 3. plain uproot reading ---------------------------------------------------------------------


def bench_read(paths: list[str]) -> list[dict]:
    with uproot.open(paths[0]) as f:
        keys = f["events"].keys()
    calo = [k for k in keys if k.startswith(CALO_PREFIXES)]
    results = []
    for label, branches, library in (
        (f"all {len(keys)} branches, library=np", None, "np"),
        (f"calorimeter ({len(calo)}: {', '.join(calo)}), library=np", calo, "np"),
    ):
        events = 0
        t0 = time.perf_counter()
        for p in paths:
            with uproot.open(p) as f:
                arrays = f["events"].arrays(branches, library=library)
            events += len(next(iter(arrays.values())))
        wall = time.perf_counter() - t0
        results.append({"what": label, "events": events, "wall": wall, "rate": events / wall})
    return results


# --- 4. projection -------------------------------------------------------------------------------


def bench_periods(out: Path, seed: int) -> list[dict]:
    """One run of each 2016-2018 period, generated and written in this process."""
    rows = []
    for period in TARGET_PERIODS:
        req = SimRequest(period=period, kind="physics", seed=seed, eot=_run_eot(period))
        plan = plan_runs(req)[0]
        c0, t0 = time.process_time(), time.perf_counter()
        arrays, summary = generate_run(req, plan)
        write_events(
            out / simrun.file_name(req, plan.run), arrays, run_metadata(req, plan, summary)
        )
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        events = summary["events"]
        p = PERIODS[period]
        rows.append(
            {
                "period": period,
                "run_eot": plan.eot,
                "events_run": events,
                "per_eot": events / plan.eot,
                "rate1": events / wall,
                "rate1_cpu": events / cpu,
                "published_eot": p.published_eot,
                "runs_full": int(np.ceil(p.published_eot / plan.eot - 1e-9)),
                "events_full": p.published_eot * events / plan.eot,
            }
        )
    return rows


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--period", default="2018", choices=sorted(PERIODS))
    ap.add_argument(
        "--eot",
        type=float,
        default=None,
        help=f"physics EOT to simulate (default: {DEFAULT_RUNS} runs of the period)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="parallel jobs of the second pass")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the produced files")
    args = ap.parse_args(argv)
    eot = args.eot if args.eot is not None else DEFAULT_RUNS * _run_eot(args.period)
    jobs = max(1, args.jobs)

    ncpu = os.cpu_count() or 1
    try:
        ncpu_avail = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        ncpu_avail = ncpu
    print("na64reco fast-simulation benchmark")
    print(
        f"versions: na64reco {na64reco.__version__}, numpy {np.__version__}, "
        f"uproot {uproot.__version__}, awkward {ak.__version__}, python {platform.python_version()}"
    )
    print(
        f"machine:  {platform.machine()} {platform.processor() or ''} nproc={ncpu_avail} "
        f"(os.cpu_count={ncpu}), {platform.system()} {platform.release()}"
    )
    print(
        f"request:  period {args.period}, {eot:.3g} EOT "
        f"({len(plan_runs(SimRequest(period=args.period, eot=eot)))} runs), seed {args.seed}"
    )

    root = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="na64_bench_sim_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        req = SimRequest(period=args.period, kind="physics", seed=args.seed, eot=eot)
        t_start = time.perf_counter()

        # 1. simulate() with 1 and N jobs
        passes = [bench_simulate(req, root / "jobs1", 1)]
        if jobs > 1:
            passes.append(bench_simulate(req, root / f"jobs{jobs}", jobs))
        same = all(p["per_run_events"] == passes[0]["per_run_events"] for p in passes)
        _table(
            f"1. simulate(): {args.period} physics, {eot:.3g} EOT, files written (ZSTD)",
            [
                "jobs",
                "runs",
                "recorded ev",
                "wall s",
                "CPU s",
                "load",
                "ev/s",
                "ev/s/core",
                "ev/CPU-s",
                "ev/EOT",
                "B/ev",
            ],
            [
                [
                    str(p["jobs"]),
                    str(p["runs"]),
                    _fmt_int(p["events"]),
                    f"{p['wall']:.2f}",
                    f"{p['cpu']:.2f}",
                    f"{p['load']:.1f}",
                    _fmt_int(p["rate"]),
                    _fmt_int(p["per_core"]),
                    _fmt_int(p["cpu_rate"]),
                    f"{p['per_eot']:.3e}",
                    f"{p['bytes_per_event']:.0f}",
                ]
                for p in passes
            ],
        )
        speedup = passes[-1]["rate"] / passes[0]["rate"]
        print(
            f"   speed-up jobs={jobs} vs jobs=1: x{speedup:.2f} "
            f"(parallel efficiency {speedup / jobs:.0%}); identical events per run: "
            f"{'yes' if same else 'NO'}"
        )
        busy = passes[0]["load"] > 0.5 or any(
            p["cpu"] < 0.85 * p["wall"] * p["jobs"] for p in passes
        )
        if busy:
            print(
                "   WARNING: the machine was shared (load average > 0.5 at the start, or CPU s "
                "well below wall s x jobs):\n   wall-clock rates are pessimistic; ev/CPU-s is "
                "the rate of an idle core."
            )

        # 2. breakdown of one run
        bd_dir = root / "breakdown"
        bd_dir.mkdir(exist_ok=True)
        bd = bench_breakdown(args.period, bd_dir, args.seed)
        _table(
            f"2. breakdown of one run in-process: {args.period} run {bd['run']}, "
            f"{_fmt_int(bd['generated'])} generated -> {_fmt_int(bd['events'])} recorded events, "
            f"{bd['total']:.2f} s ({_fmt_int(bd['events'] / bd['total'])} ev/s)",
            ["stage", "s", "%", "µs/recorded ev"],
            [
                [
                    stage,
                    f"{bd['stages'].get(stage, 0.0):.3f}",
                    f"{100 * bd['stages'].get(stage, 0.0) / bd['total']:.1f}",
                    f"{1e6 * bd['stages'].get(stage, 0.0) / max(bd['events'], 1):.1f}",
                ]
                for stage in STAGES
            ],
        )
        print(
            "   process generation = the background generators + beam/random triggers + "
            "EventBatch.concatenate;\n   trigger = hardware.analogue_trigger; selection = "
            "EventBatch.take; digitisation = digitize + truth_deposits"
        )

        # 3. plain uproot reading of the same files
        read = bench_read(passes[-1]["paths"])
        sim_rate = passes[0]["per_core"]
        _table(
            f"3. plain uproot reading of the {len(passes[-1]['paths'])} files just written "
            "(1 core, page cache warm)",
            ["what", "events", "wall s", "ev/s/core", "x simulation"],
            [
                [
                    r["what"],
                    _fmt_int(r["events"]),
                    f"{r['wall']:.2f}",
                    _fmt_int(r["rate"]),
                    f"{r['rate'] / sim_rate:.1f}",
                ]
                for r in read
            ]
            + [
                [
                    "simulation + writing, jobs=1 (for comparison)",
                    _fmt_int(passes[0]["events"]),
                    f"{passes[0]['wall']:.2f}",
                    _fmt_int(sim_rate),
                    "1.0",
                ]
            ],
        )

        # 4. projection to the full 2016-2018 exposure
        proj_dir = root / "periods"
        proj_dir.mkdir(exist_ok=True)
        per = bench_periods(proj_dir, args.seed)
        # (a) as measured: 1-core wall rate of each period x the measured jobs speed-up;
        # (b) idle machine: 1-core CPU-time rate x jobs x the CPU-time parallel efficiency
        cpu_eff = min(1.0, passes[-1]["cpu_rate"] / passes[0]["cpu_rate"])
        for r in per:
            r["wall_full"] = r["events_full"] / (r["rate1"] * speedup)
            r["idle_full"] = r["events_full"] / (r["rate1_cpu"] * jobs * cpu_eff)
        total_events = sum(r["events_full"] for r in per)
        total_eot = sum(r["published_eot"] for r in per)
        total_wall = sum(r["wall_full"] for r in per)
        total_idle = sum(r["idle_full"] for r in per)
        _table(
            f"4. projection: full 2016-2018 exposure with jobs={jobs} "
            "(one run of each period measured in-process)",
            [
                "period",
                "EOT",
                "runs",
                "ev/EOT",
                "recorded ev",
                "1-core ev/s",
                "ev/CPU-s",
                "wall s measured",
                "wall s idle",
            ],
            [
                [
                    r["period"],
                    f"{r['published_eot']:.3g}",
                    str(r["runs_full"]),
                    f"{r['per_eot']:.3e}",
                    _fmt_int(r["events_full"]),
                    _fmt_int(r["rate1"]),
                    _fmt_int(r["rate1_cpu"]),
                    f"{r['wall_full']:.0f}",
                    f"{r['idle_full']:.0f}",
                ]
                for r in per
            ]
            + [
                [
                    "total",
                    f"{total_eot:.3g}",
                    str(sum(r["runs_full"] for r in per)),
                    f"{total_events / total_eot:.3e}",
                    _fmt_int(total_events),
                    "",
                    "",
                    f"{total_wall:.0f}",
                    f"{total_idle:.0f}",
                ]
            ],
        )
        print(
            f"   measured = recorded ev / (1-core ev/s x measured speed-up {speedup:.2f});\n"
            f"   idle     = recorded ev / (ev/CPU-s x {jobs} jobs x CPU-time parallel efficiency "
            f"{cpu_eff:.2f})"
        )
        print()
        for label, t in (("as measured", total_wall), ("on an idle machine", total_idle)):
            verdict = "MEETS" if t < TARGET_S else "MISSES"
            print(
                f"=> {label:<18}: {verdict} the target: {_fmt_int(total_events)} recorded events "
                f"({total_eot:.3g} EOT) in {t / 60:.1f} min with jobs={jobs} "
                f"(target < {TARGET_S / 60:.0f} min, margin x{TARGET_S / t:.2f})"
            )
        print(
            f"   benchmark wall time: {time.perf_counter() - t_start:.0f} s; output: {root}"
            + ("" if args.keep else " (removed)")
        )
    finally:
        if not args.keep:
            if args.out is None:
                shutil.rmtree(root, ignore_errors=True)
            else:  # remove only what this benchmark made in the user's folder
                for sub in ("jobs1", f"jobs{jobs}", "breakdown", "periods"):
                    shutil.rmtree(root / sub, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
