"""Benchmark of systematic variations in one pass: the cost of each variation relative to the
nominal pass, and the plain uproot read of the same columns, in one run.

    python benchmarks/bench_variations.py [--fileset /work/benchdata/s2016/fileset.json]
        [--max-files N] [--chunksize 100000] [--systematics FILE] [--repeat 2] [--out FILE]

On the physics files of the fileset (the first ``--max-files`` of them), in this process,
pinned to one core, after a one-file warm-up (imports, numba caches, checksum cache), it times
(wall clock) with the iterative executor:

a. **plain read**: ``bench_run.plain_read``, the branches ``na64 run`` reads, plain uproot;
b. **nominal**: ``run_analysis`` without variations (no PNG plots, no checkpoints);
c. **ecal**: with one calibration variation (ECAL gains +-2%: 2 evaluated variations);
d. **cut**: with one cut variation (box edge +-1 GeV: 2 evaluated variations);
e. **all**: with every calibration and cut variation of ``--systematics`` (the shipped
   invisible file: 4 calibration + 1 cut variations, 10 evaluated; its weight variations do not
   apply to data).

The passes run in ``--repeat`` interleaved rounds (default 2), the best of each is kept (the
first pass of a round also warms the page cache). Per pass: total wall, the event-loop wall
(``summary.metrics.wall_s``), events/s. The cost per evaluated variation is
``(loop(pass) - loop(nominal)) / n_evaluated / loop(nominal)`` (the event loop is where
variations run; the totals add validation and writing, the same in every pass). Target (issue
19): < 40% of a nominal pass per variation. The machine's load average is printed before and
after (a shared machine inflates every figure alike). Always exits 0.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import _pin, plain_read  # noqa: E402

from na64reco.fileset import load_fileset  # noqa: E402
from na64reco.run import run_analysis  # noqa: E402
from na64reco.systematics.config import Systematics, load_systematics, systematics_path  # noqa: E402

TARGET = 0.40


def _one(syst: Systematics, name: str) -> Systematics:
    return syst.model_copy(
        update={"variations": tuple(v for v in syst.variations if v.name == name)}
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fileset", type=Path, default=Path("/work/benchdata/s2016/fileset.json"))
    ap.add_argument("--max-files", type=int, default=None)
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--systematics", type=Path, default=systematics_path("invisible"))
    ap.add_argument("--repeat", type=int, default=2, help="rounds; best of each pass")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    pinned = _pin(None)
    fs = load_fileset(args.fileset)
    physics = [e for e in fs.files if e.kind == "physics"][: args.max_files]
    subset = fs.model_copy(update={"files": physics})
    events = sum(e.events for e in physics)
    paths = [
        str(Path(fs.source).parent / e.path) if not Path(e.path).is_absolute() else e.path
        for e in physics
    ]
    syst = load_systematics(args.systematics)
    work = Path(tempfile.mkdtemp(prefix="bench_var_"))
    files = {}
    for label, s in (
        ("ecal", _one(syst, "ecal_scale")),
        ("cut", _one(syst, "box_edge")),
        ("all", syst),
    ):
        path = work / f"{label}.toml"
        doc = s.model_dump(mode="json", exclude={"source"})
        path.write_text(_toml(doc))
        files[label] = (path, len(s.labels(("calibration", "cut"))))
    opts = dict(
        executor="iterative",
        chunksize=args.chunksize,
        quiet=True,
        make_plots=False,
        checkpoint=False,
    )
    load0 = os.getloadavg()
    warm = fs.model_copy(update={"files": physics[:1]})
    run_analysis(warm, "invisible", work / "warm", **opts)
    run_analysis(warm, "invisible", work / "warm", systematics=files["all"][0], **opts)

    result = {"events": events, "files": len(physics), "pinned": pinned, "load_before": load0}
    t0 = time.perf_counter()
    n = plain_read(paths)
    result["plain_read"] = {"wall_s": time.perf_counter() - t0, "events": n}
    passes = {"nominal": (None, 0), **files}
    for _ in range(args.repeat):  # interleaved rounds, best of each pass
        for label, (path, n_var) in passes.items():
            t0 = time.perf_counter()
            extra = {} if path is None else {"systematics": path}
            summary = run_analysis(subset, "invisible", work / label, **opts, **extra)
            wall = time.perf_counter() - t0
            if label not in result or summary.metrics.wall_s < result[label]["loop_s"]:
                result[label] = {
                    "wall_s": wall,
                    "loop_s": summary.metrics.wall_s,
                    "evaluated_variations": n_var,
                }
    result["load_after"] = os.getloadavg()
    nom = result["nominal"]["loop_s"]
    print(
        f"{events} events in {len(physics)} files, {pinned}; load {load0} -> {result['load_after']}"
    )
    read = result["plain_read"]["wall_s"]
    print(f"plain read      {read:8.1f} s  {events / read:10.0f} ev/s")
    for label in passes:
        r = result[label]
        line = (
            f"{label:14s}  {r['wall_s']:8.1f} s  loop {r['loop_s']:8.1f} s  "
            f"{events / r['loop_s']:10.0f} ev/s"
        )
        if r["evaluated_variations"]:
            cost = (r["loop_s"] - nom) / r["evaluated_variations"] / nom
            r["cost_per_variation"] = cost
            verdict = "PASS" if cost < TARGET else "MISSED"
            line += f"  cost/variation {100 * cost:5.1f}% of nominal ({verdict} < 40%)"
        print(line)
    print(f"nominal loop / plain read: {nom / result['plain_read']['wall_s']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(work)  # the outputs of the passes: made here, removed here
    return 0


def _toml(doc: dict) -> str:
    """A systematics document as TOML (flat values and the variations table list)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items() if k != "variations"]
    for v in doc["variations"]:
        lines.append("\n[[variations]]")
        lines += [f"{k} = {json.dumps(x)}" for k, x in v.items() if x is not None]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
