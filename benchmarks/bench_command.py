"""What a user waits for: whole ``na64`` commands against the plain read, in one run.

    python benchmarks/bench_command.py --fileset DIR/fileset.json [--analysis invisible]
        [--repeat 3] [--out RESULT.json]
    python benchmarks/bench_command.py --make-sample DIR   # the issue-20 sample, then as above

The sample of issue 20 is ``na64 simulate --period 2016 --eot 5e10 --seed 11`` (~1.7e6 physics
events in ~125 files). Each pass is its own process, timed from the outside (wall clock of the
whole process: interpreter start, imports, validation, the loop, outputs, plots), one after the
other; the minimum over ``--repeat`` runs is kept (the median and maximum are printed too):

* ``help``: ``na64 --help``; ``run-help``: ``na64 run --help`` (start-up);
* ``first-chunk``: ``na64 -q run ... --maxchunks 1`` with the checksums cached: start-up,
  validation of every file and the first chunk (the time to the first processed chunk);
* ``first``: ``na64 -q run`` with an empty checksum cache (every file hashed and checked: the
  first run on new files);
* ``second``: ``na64 -q run`` again (checksums and contract checks from the cache);
* ``read``: a plain ``python -c`` that imports uproot and reads every branch of every physics
  file (``tree.arrays()``, all branches): the reference, as a whole process too;
* ``analyze-cold``: ``na64 -q analyze`` on the shipped sample with empty numba and toolkit
  caches (``NUMBA_CACHE_DIR``, ``NA64_CACHE_DIR``: every kernel compiled, every checksum
  computed), what a fresh install waits for (target < 30 s); ``analyze-warm``: the same with
  the numba cache it left (a new output folder: every stage runs again).

The in-process event loop against ROOT RDataFrame on the same selection is ``run_all.py``'s
``iterative`` and ``rdf1`` passes (``--passes read,iterative,rdf1`` on the same fileset).

Reported: seconds, events per second per core (1 core: every pass is single-threaded), and
the ratios first/read and second/read (targets >= 0.5 and >= 0.6). The load average is printed
before and after; above 0.5 the figures are pessimistic. Always exits 0 once the passes ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NA64 = shutil.which("na64") or str(Path(sys.executable).with_name("na64"))
READ_ALL = """
import sys, uproot
n = 0
for path in sys.argv[1:]:
    with uproot.open(path) as f:
        n += len(f["events"].arrays(library="ak"))
print(n)
"""


def _physics(fileset: Path) -> tuple[list[str], int]:
    from na64reco.fileset import load_fileset

    files = [e for e in load_fileset(fileset).files if e.kind == "physics"]
    return [e.path for e in files], sum(e.events for e in files)


def _time(cmd: list[str], env: dict, repeat: int) -> dict:
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} ...: {result.stderr[-2000:]}")
    return {"min": min(walls), "median": statistics.median(walls), "max": max(walls)}


def _each_fresh(cmd, env, repeat: int) -> dict:
    """One timing per repeat, with the command and environment of repeat i."""
    walls = [_time(cmd(i), env(i), 1)["min"] for i in range(repeat)]
    return {"min": min(walls), "median": statistics.median(walls), "max": max(walls)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fileset", type=Path)
    ap.add_argument("--make-sample", type=Path, metavar="DIR")
    ap.add_argument("--analysis", default="invisible")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.make_sample:
        cmd = [NA64, "-q", "simulate", "--period", "2016", "--eot", "5e10", "--seed", "11"]
        subprocess.run([*cmd, "--jobs", "2", "--out", str(args.make_sample)], check=True)
        args.fileset = args.fileset or args.make_sample / "fileset.json"
    if args.fileset is None:
        ap.error("give --fileset (or --make-sample DIR)")
    paths, events = _physics(args.fileset)
    work = Path(tempfile.mkdtemp(prefix="na64-bench-command-"))
    env = dict(os.environ, NA64_CACHE_DIR=str(work / "cache"))
    run = [NA64, "-q", "run", str(args.fileset), "--analysis", args.analysis]
    print(f"{len(paths)} physics files, {events:,} events; load {os.getloadavg()}", flush=True)
    results: dict[str, dict] = {}
    results["help"] = _time([NA64, "--help"], env, args.repeat)
    results["run-help"] = _time([NA64, "run", "--help"], env, args.repeat)
    results["first"] = _each_fresh(  # each with an empty checksum cache
        lambda i: [*run, "--out", str(work / f"first{i}")],
        lambda i: {**env, "NA64_CACHE_DIR": str(work / f"cache-first-{i}")},
        args.repeat,
    )
    results["second"] = _time([*run, "--out", str(work / "second")], env, args.repeat)
    results["first-chunk"] = _time(
        [*run, "--out", str(work / "chunk"), "--maxchunks", "1", "--no-plots"], env, args.repeat
    )
    results["read"] = _time([sys.executable, "-c", READ_ALL, *paths], env, args.repeat)
    analyze = [NA64, "-q", "analyze"]
    results["analyze-cold"] = _each_fresh(  # each with empty caches
        lambda i: [*analyze, "--out", str(work / f"analyze-cold{i}")],
        lambda i: {
            **env,
            "NUMBA_CACHE_DIR": str(work / f"numba{i}"),
            "NA64_CACHE_DIR": str(work / f"c{i}"),
        },
        args.repeat,
    )
    results["analyze-warm"] = _each_fresh(  # the last cold run's numba cache, a new output
        lambda i: [*analyze, "--out", str(work / f"analyze-warm{i}")],
        lambda i: {
            **env,
            "NUMBA_CACHE_DIR": str(work / f"numba{args.repeat - 1}"),
            "NA64_CACHE_DIR": str(work / f"w{i}"),
        },
        args.repeat,
    )
    print(f"load after: {os.getloadavg()}")
    print(f"{'pass':<12} {'min s':>8} {'median s':>9} {'max s':>8} {'events/s':>10}")
    for name, t in results.items():
        rate = events / t["min"] if name in ("first", "second", "read") else None
        rate_text = f"{rate:>10,.0f}" if rate else f"{'':>10}"
        print(f"{name:<12} {t['min']:>8.2f} {t['median']:>9.2f} {t['max']:>8.2f} {rate_text}")
    read = results["read"]["min"]
    for name, target in (("first", 0.5), ("second", 0.6)):
        ratio = read / results[name]["min"]
        verdict = "PASS" if ratio >= target else "FAIL"
        print(
            f"{name} run / plain read of every branch: {ratio:.2f} (target >= {target}) {verdict}"
        )
    cold = results["analyze-cold"]["min"]
    print(f"na64 analyze, empty caches: {cold:.1f} s (target < 30 s) "
          f"{'PASS' if cold < 30 else 'FAIL'}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"events": events, "passes": results}, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
