"""Benchmark of the whole ``run``: events/s per core, plain uproot side by side, Dask scaling.

    python benchmarks/bench_run.py [--events 3e6] [--data DIR] [--chunksize 100000] [--repeat 1]

Sample: 2018 physics runs simulated with ``na64reco.sim.run.simulate(..., jobs=2)`` (seed
``--seed``; about 38k recorded events per run of 1.4e9 EOT) into ``--data`` (default: a temporary
folder removed afterwards). With ``--data`` the files and their manifest are kept and reused:
a later call simulates only the runs it still lacks (every run has its own random stream, so the
files are the same whichever call made them) and uses the first runs that reach ``--events``.
The shipped constants cover 2016 and 2022 only: the run uses ``calib_2018_truth.json`` written
next to the data (the simulation's true 2018 constants plus the shipped ECAL shower profile).

In one process, on the same files, it times (best of ``--repeat``, wall clock):

a. **plain read**: per file ``tree.arrays(<flat columns>, library="np")`` and
   ``tree.arrays(<hit columns>, library="ak")`` of exactly the branches the run reads (checked
   against coffea's ``columns`` metric), the process pinned to one core;
b. **iterative**: ``run_analysis(..., executor="iterative")`` end to end (validation with
   checksums, chunk planning, NanoEvents, calibration, reconstruction, cuts, histogram filling,
   accounting, writing the outputs), pinned to one core;
c. **dask**: ``executor="dask"`` with the LocalCluster that ``run_analysis`` starts itself
   (1 and 2 workers, ``threads_per_worker=1``), and the same with a LocalCluster started and
   warmed up beforehand and passed as ``scheduler`` (steady state: no worker start-up, numba
   caches loaded);
d. **futures**: ``executor="futures"`` with 2 workers.

A warm-up run (one chunk) before the timings loads the numba caches of the main process.

Memory and CPU: a sampler thread (psutil, every 0.1 s) records the peak RSS of this process and
of each of its child processes (workers; for Dask the largest worker, nannies excluded) and
their CPU time (user + sys) during each pass. *ev/s/core* divides by the cores used (1 for the
plain read and the iterative executor, the worker count otherwise); *ev/CPU-s* divides by the
CPU seconds of all processes, the rate of one core when nothing else runs.

A breakdown section times, per chunk of the first files in this process: the plain read, and
within ``SelectionProcessor.process`` (timers wrapped around its calls) the NanoEvents factory,
the reading of the lazy columns (``raw_arrays``, MM/straw hits materialised there), the
``reconstruct_event`` compute and the rest (cuts and histogram filling).

Targets (issue 4): the iterative run >= 50% of the plain-read throughput (per core); Dask with 2
workers >= 1.7x one worker. The verdicts are printed; the script always exits 0.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import uproot  # noqa: E402

from na64reco.eventtree.contract import JAGGED_BRANCHES  # noqa: E402
from na64reco.reco.calorimeters import RAW_BRANCHES  # noqa: E402
from na64reco.run import run_analysis  # noqa: E402
from na64reco.run.executors import chunk_uproot_options  # noqa: E402

PERIOD = "2018"
FLAT = ("run", "spill", "event", "trigger", *RAW_BRANCHES)
JAGGED = tuple(b.name for b in JAGGED_BRANCHES)
TARGET_READ = 0.5
TARGET_SCALING = 1.7
EVENTS_PER_RUN_GUESS = 38_000  # 2018, one run of 1.4e9 EOT (37.6k measured, seed 11)


# --- sample ----------------------------------------------------------------------------------
def ensure_sample(data: Path, events: int, seed: int) -> tuple[Path, list, list[str]]:
    """(manifest of the first runs reaching ``events``, their entries, notes on the sample)."""
    from na64reco.conditions import get_period
    from na64reco.fileset import Fileset, load_fileset, write_fileset
    from na64reco.sim.run import SimRequest, simulate, update_fileset

    period = get_period(PERIOD)
    eot_per_run = period.spills_per_run * period.intensity_per_spill
    folder = data / f"{PERIOD}_seed{seed}"
    manifest = folder / "fileset.json"
    log = folder / "sim_time.json"
    notes: list[str] = []
    history = json.loads(log.read_text()) if log.exists() else []

    def existing() -> list:
        if not manifest.exists():
            return []
        found = [e for e in load_fileset(manifest).files if Path(e.path).exists()]
        return sorted(found, key=lambda e: e.run_min)

    for _ in range(3):  # the events per run are only estimated: top up if short
        entries = existing()
        have = sum(e.events for e in entries)
        if have >= events:
            break
        per_run = have / len(entries) if entries else EVENTS_PER_RUN_GUESS
        n_runs = max(1, math.ceil((events - have) / per_run))
        first = entries[-1].run_max + 1 if entries else period.first_run
        request = SimRequest(period=PERIOD, eot=n_runs * eot_per_run, seed=seed, first_run=first)
        print(f"simulating {n_runs} run(s) of {PERIOD} from run {first} (jobs=2) ...", flush=True)
        t = time.perf_counter()
        summaries = simulate(request, folder, jobs=2)
        dt = time.perf_counter() - t
        update_fileset(manifest, request, summaries, command="benchmarks/bench_run.py")
        made = sum(s["events"] for s in summaries)
        log.write_text(
            json.dumps(
                [*history, {"runs": n_runs, "events": made, "seconds": round(dt, 1)}], indent=1
            )
        )
        history.append({"runs": n_runs, "events": made, "seconds": round(dt, 1), "now": True})
    for h in history:
        notes.append(
            f"{'simulated now' if h.pop('now', False) else 'reused'} ({folder}): "
            f"{h['runs']} runs, {h['events']:,} events in {h['seconds']:.0f} s "
            f"({h['events'] / h['seconds']:,.0f} ev/s, jobs=2)"
        )
    chosen, n = [], 0
    for e in existing():
        if n >= events:
            break
        chosen.append(e)
        n += e.events
    subset = folder / f"subset_{len(chosen)}runs.json"
    full = load_fileset(manifest)
    write_fileset(
        subset,
        Fileset(
            name=f"bench_run_{len(chosen)}runs",
            files=chosen,
            command=full.command,
            description=full.description,
        ),
    )
    return subset, chosen, notes


def ensure_calibration(folder: Path) -> Path:
    """2018 constants: the simulation's true constants plus the shipped shower profile.

    The shipped ``calib/na64sim-2016-2022.json`` covers 2016 and 2022 only. The true constants
    of the simulated 2018 detector stand in for a calibration; the ECAL shower profile (needed
    for ``shower_chi2``, so that the reconstruction does all its work) is the shipped 2016 one.
    """
    import dataclasses

    from na64reco.calibration.io import load_calibration, write_calibration
    from na64reco.calibration.truth import calibration_from_truth
    from na64reco.shipped import calibration_path

    path = folder / "calib_2018_truth.json"
    if not path.exists():
        shipped = load_calibration(calibration_path())
        profile = next(c.shower_profile for c in shipped.sets if c.shower_profile is not None)
        cset = dataclasses.replace(calibration_from_truth(PERIOD), shower_profile=profile)
        write_calibration(path, [cset], version=1)
    return path


# --- measuring -------------------------------------------------------------------------------
class Monitor:
    """Wall time, CPU time and peak RSS of this process and its children during a block."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.me = psutil.Process()
        self._stop = threading.Event()

    @staticmethod
    def _anon(pid: int) -> int:
        """Anonymous resident memory (bytes; RssAnon of /proc/PID/status, 0 if unavailable):
        RSS without the file pages that uproot's memory-mapped reads leave resident."""
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def _sample(self) -> None:
        procs = [self.me]
        with contextlib.suppress(psutil.Error):
            procs += self.me.children(recursive=True)
        for p in procs:
            try:
                with p.oneshot():
                    rss = p.memory_info().rss
                    cpu = self._cpu(p)
                    name = " ".join(p.cmdline()[-3:]) if p.pid != self.me.pid else "main"
            except psutil.Error:
                continue
            self.cpu_last[p.pid] = cpu
            self.cpu_first.setdefault(p.pid, 0.0)  # started during the pass
            self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            self.anon[p.pid] = max(self.anon.get(p.pid, 0), self._anon(p.pid))
            self.names[p.pid] = name

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self.cpu_first, self.cpu_last, self.peak, self.names = {}, {}, {}, {}
        self.anon: dict[int, int] = {}
        for p in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                self.cpu_first[p.pid] = self._cpu(p)
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self._sample()
        self.cpu = sum(self.cpu_last[p] - self.cpu_first.get(p, 0.0) for p in self.cpu_last)
        me = self.me.pid
        children = {p: r for p, r in self.peak.items() if p != me}
        workers = {p: r for p, r in children.items() if "nanny" not in self.names[p].lower()}
        self.peak_main = self.peak.get(me, 0)
        self.peak_worker = max((workers or children).values(), default=0)
        self.anon_main = self.anon.get(me, 0)
        self.anon_worker = max((self.anon.get(p, 0) for p in (workers or children)), default=0)
        return False


def _best(fn, repeat: int) -> tuple[Monitor, object]:
    best, out = None, None
    for _ in range(repeat):
        with Monitor() as m:
            result = fn()
        if best is None or m.wall < best.wall:
            best, out = m, result
    return best, out


def _pin(cpus: set[int] | None) -> str:
    try:
        if cpus is None:
            cpus = {min(os.sched_getaffinity(0))}
        os.sched_setaffinity(0, cpus)
        return f"cpus {sorted(cpus)}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def plain_read(paths: list[str], handler=None) -> int:
    """Read the selection's columns of every file with plain uproot; the number of events.

    ``handler``: uproot's source class (default: uproot's own choice, fsspec)."""
    n = 0
    options = {} if handler is None else {"handler": handler}
    for path in paths:
        with uproot.open(path, **options) as f:
            tree = f["events"]
            flat = tree.arrays(list(FLAT), library="np")
            tree.arrays(list(JAGGED), library="ak", how=dict)
        n += len(flat["run"])
    return n


def _warm_worker(path: str, calib: str) -> str:
    """Load na64reco and the numba caches in a Dask worker (run on each worker)."""
    from na64reco.calibration.io import load_calibration
    from na64reco.processors import selection  # noqa: F401
    from na64reco.reco.event import reconstruct_event

    with uproot.open(path) as f:
        tree = f["events"]
        arrays = tree.arrays(list(FLAT), library="np", entry_stop=2000)
        jag = tree.arrays(list(JAGGED), library="ak", how=dict, entry_stop=2000)
    arrays["mm"] = ak.zip({b[3:]: jag[b] for b in JAGGED if b.startswith("mm_")})
    arrays["st"] = ak.zip({b[3:]: jag[b] for b in JAGGED if b.startswith("st_")})
    db = load_calibration(calib)
    reconstruct_event(arrays, db.for_run(int(arrays["run"][0])))
    return "ok"


def chunk_events(path: str, start: int, stop: int):
    """The NanoEvents of one chunk, opened as the executors of ``run_analysis`` open it."""
    from coffea.nanoevents import NanoEventsFactory

    from na64reco.eventtree import NA64Schema

    return NanoEventsFactory.from_root(
        {path: "events"},
        schemaclass=NA64Schema,
        mode="virtual",
        entry_start=start,
        entry_stop=stop,
        metadata={"filename": path},
        uproot_options=chunk_uproot_options([path]),
    ).events()


def breakdown(paths: list[str], chunksize: int, analysis: str, calib: Path) -> dict[str, float]:
    """Seconds per stage over the chunks of ``paths``, in this process.

    ``SelectionProcessor.process`` runs as in the real run, with timers wrapped around
    ``raw_arrays`` (made to materialise the lazy MM/straw columns too, so that it holds every
    read) and ``reconstruct_event``; the remainder of ``process`` is the cuts and histograms.
    """

    from na64reco.analyses import resolve_cutset
    from na64reco.calibration.io import load_calibration
    from na64reco.processors import selection

    db = load_calibration(calib)
    proc = selection.SelectionProcessor(resolve_cutset(analysis), db)
    t = dict.fromkeys(
        ("plain read", "NanoEvents factory", "read columns (lazy)", "reconstruct_event",
         "cuts + histograms"), 0.0
    )  # fmt: skip
    real_raw, real_reco = selection.raw_arrays, selection.reconstruct_event

    def timed_raw(events):
        t0 = time.perf_counter()
        out = real_raw(events)
        out["mm"], out["st"] = ak.materialize(out["mm"]), ak.materialize(out["st"])
        t["read columns (lazy)"] += time.perf_counter() - t0
        return out

    def timed_reco(arrays, cset):
        t0 = time.perf_counter()
        out = real_reco(arrays, cset)
        t["reconstruct_event"] += time.perf_counter() - t0
        return out

    n_events = 0
    selection.raw_arrays, selection.reconstruct_event = timed_raw, timed_reco
    try:
        for path in paths:
            with uproot.open(path) as f:
                n = f["events"].num_entries
            for start in range(0, n, chunksize):
                stop = min(n, start + chunksize)
                t0 = time.perf_counter()
                with uproot.open(path) as f:
                    tree = f["events"]
                    tree.arrays(list(FLAT), library="np", entry_start=start, entry_stop=stop)
                    tree.arrays(
                        list(JAGGED), library="ak", how=dict, entry_start=start, entry_stop=stop
                    )
                t1 = time.perf_counter()
                events = chunk_events(path, start, stop)
                t2 = time.perf_counter()
                before = t["read columns (lazy)"] + t["reconstruct_event"]
                proc.process(events)
                t3 = time.perf_counter()
                after = t["read columns (lazy)"] + t["reconstruct_event"]
                t["plain read"] += t1 - t0
                t["NanoEvents factory"] += t2 - t1
                t["cuts + histograms"] += (t3 - t2) - (after - before)
                n_events += stop - start
    finally:
        selection.raw_arrays, selection.reconstruct_event = real_raw, real_reco
    t["events"] = n_events
    return t


# --- main ------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=3e6, help="events in the sample (3e6)")
    ap.add_argument("--data", type=Path, default=None, help="keep/reuse the simulated files here")
    ap.add_argument("--chunksize", type=int, default=100_000, help="coffea chunk size (100000)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N per pass (1)")
    ap.add_argument("--seed", type=int, default=11, help="simulation seed (11)")
    ap.add_argument("--analysis", default="invisible", help="analysis / cut set (invisible)")
    ap.add_argument("--breakdown-files", type=int, default=3, help="files in the breakdown (3)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import coffea
    import dask
    import distributed
    from distributed import Client, LocalCluster

    # after importing distributed (its import sets INFO): no worker start/stop lines
    logging.getLogger("distributed").setLevel(logging.ERROR)

    import na64reco

    all_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    print(
        f"na64reco {na64reco.__version__}, coffea {coffea.__version__}, dask {dask.__version__}, "
        f"distributed {distributed.__version__}, uproot {uproot.__version__}, "
        f"awkward {ak.__version__}, numpy {np.__version__}, python {platform.python_version()}"
    )
    mem = psutil.virtual_memory().total / 2**30
    load0 = os.getloadavg()
    print(
        f"nproc {os.cpu_count()}, {mem:.0f} GB, load average {load0[0]:.2f} {load0[1]:.2f} "
        f"{load0[2]:.2f}, best of {args.repeat}, chunksize {args.chunksize}"
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench_run_"))
    data = args.data if args.data is not None else tmp / "data"
    try:
        manifest, entries, notes = ensure_sample(data, int(args.events), args.seed)
        for note in notes:
            print(note)
        calib = ensure_calibration(manifest.parent)
        paths = [e.path for e in entries]
        n_events = sum(e.events for e in entries)
        size = sum(os.path.getsize(p) for p in paths)
        print(
            f"sample: {len(paths)} files (runs {entries[0].run_min}-{entries[-1].run_max}), "
            f"{n_events:,} events, {size / 2**20:.0f} MiB\n",
            flush=True,
        )

        rows: list[tuple] = []  # (label, monitor, cores)
        common = dict(chunksize=args.chunksize, calibration=calib, quiet=True, make_plots=False)

        def run(executor, **kw):
            out = tmp / f"out_{executor}"
            shutil.rmtree(out, ignore_errors=True)
            return run_analysis(manifest, args.analysis, out, executor=executor, **common, **kw)

        # (a) plain read and (b) iterative, pinned to one core
        pinned = _pin(None)
        print(f"plain read and iterative: {pinned}", flush=True)
        run("iterative", maxchunks=1)  # warm-up: numba caches, imports
        m, n_read = _best(lambda: plain_read(paths), args.repeat)
        rows.append(("plain uproot read", m, 1))
        m, summary = _best(lambda: run("iterative"), args.repeat)
        rows.append(("run iterative", m, 1))
        metrics = summary.metrics.model_dump()
        processed = summary.events_processed
        assert processed == n_events == n_read, (processed, n_events, n_read)
        cols = {c.rsplit("-", 1)[0] for c in metrics.get("columns", [])}
        same = cols == set(FLAT) | set(JAGGED)
        print(
            f"plain-read check: the run read {len(cols)} branches, the plain read "
            f"{len(FLAT) + len(JAGGED)}: {'same set' if same else 'DIFFERENT: ' + str(cols)}"
        )
        if all_cpus:
            _pin(all_cpus)

        # (c) dask, LocalCluster started by run_analysis; (d) futures
        for w in (1, 2):
            m, _ = _best(lambda w=w: run("dask", workers=w), args.repeat)
            rows.append((f"run dask {w}w (own cluster)", m, w))
        # (c') dask, pre-started and warmed LocalCluster (steady state)
        for w in (1, 2):
            with (
                LocalCluster(
                    n_workers=w,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                ) as cluster,
                Client(cluster) as client,
            ):
                client.run(_warm_worker, paths[0], str(calib))
                m, _ = _best(
                    lambda c=cluster: run("dask", scheduler=c.scheduler_address), args.repeat
                )
            rows.append((f"run dask {w}w (warm cluster)", m, w))
        m, _ = _best(lambda: run("futures", workers=2), args.repeat)
        rows.append(("run futures 2w", m, 2))

        # breakdown of one iterative pass (in this process, one core)
        bfiles = paths[: max(1, args.breakdown_files)]
        _pin(None)
        bd = breakdown(bfiles, args.chunksize, args.analysis, calib)
        if all_cpus:
            _pin(all_cpus)
        load1 = os.getloadavg()

        # --- report --------------------------------------------------------------------------
        print(
            f"\n{n_events:,} events, {len(paths)} files; ev/s/core = ev/s / cores; "
            "ev/CPU-s over all processes"
        )
        head = (
            f"{'pass':30s} {'cores':>5s} {'wall s':>7s} {'CPU s':>7s} {'ev/s':>9s} "
            f"{'ev/s/core':>9s} {'ev/CPU-s':>9s} {'main MiB':>8s} {'worker MiB':>10s}"
        )
        print(head)
        print("-" * len(head))
        rate, cpu_rate = {}, {}
        for label, m, cores in rows:
            r = n_events / m.wall
            rate[label] = r
            cpu_rate[label] = n_events / m.cpu
            show = m.peak_worker and not label.endswith(("read", "iterative"))
            worker = f"{m.peak_worker / 2**20:10.0f}" if show else f"{'-':>10s}"
            print(
                f"{label:30s} {cores:5d} {m.wall:7.1f} {m.cpu:7.1f} {r:9.0f} {r / cores:9.0f} "
                f"{n_events / m.cpu:9.0f} {m.peak_main / 2**20:8.0f} {worker}"
            )
        print(
            f"\ncoffea metrics of the iterative run: chunks {metrics.get('chunks')}, "
            f"processtime {metrics.get('processtime', 0):.1f} s (inside process(), lazy reads "
            f"included), bytesread {metrics.get('bytesread', 0) / 2**20:.0f} MiB, "
            f"run_analysis wall_s {metrics.get('wall_s')} s (executor incl. planning)"
        )
        n_bd = bd.pop("events")
        total = sum(v for k, v in bd.items() if k != "plain read")
        print(
            f"\nbreakdown, {len(bfiles)} file(s), {n_bd:,} events, one core (chunks of "
            f"{args.chunksize}):"
        )
        print(f"{'stage':24s} {'s':>6s} {'us/event':>9s} {'share of run':>12s}")
        for k, v in bd.items():
            share = f"{v / total:12.0%}" if k != "plain read" else f"{'(reference)':>12s}"
            print(f"{k:24s} {v:6.2f} {1e6 * v / n_bd:9.1f} {share}")

        ratio = rate["run iterative"] / rate["plain uproot read"]
        cpu_ratio = cpu_rate["run iterative"] / cpu_rate["plain uproot read"]
        print(
            f"\nload average before {load0[0]:.2f}, after {load1[0]:.2f} (nproc {os.cpu_count()})"
        )
        print(
            f"target iterative run >= {TARGET_READ:.0%} of the plain read (per core): "
            f"{ratio:.1%} -> {'PASS' if ratio >= TARGET_READ else 'FAIL'}"
        )
        print(
            f"  the same per CPU second (robust under load): {cpu_ratio:.1%} -> "
            f"{'PASS' if cpu_ratio >= TARGET_READ else 'FAIL'}"
        )
        for kind in ("own cluster", "warm cluster"):
            s = rate[f"run dask 2w ({kind})"] / rate[f"run dask 1w ({kind})"]
            print(
                f"target dask 2 workers >= {TARGET_SCALING}x 1 worker ({kind}): {s:.2f}x -> "
                f"{'PASS' if s >= TARGET_SCALING else 'FAIL'}"
            )
        if max(load0[0], load1[0]) > 0.5:
            print(
                "WARNING: the machine was not idle (load average > 0.5): wall-clock rates and "
                "the 2-worker speed-up are pessimistic; ev/CPU-s is the robust figure"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
