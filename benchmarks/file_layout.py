"""File layout: compression and cluster size against file size, write time and read throughput.

::

    python benchmarks/file_layout.py [--data DIR] [--period 2018] [--files 6] [--repeat 3]
                                     [--tmp DIR] [--no-run]

Takes the first ``--files`` physics runs of ``--period`` from the manifest ``DIR/fileset.json``
(default ``/work/benchdata/full_exposure``, made by ``benchmarks/full_exposure.py``), reads all
their branches once and writes them as one file per layout with ``EventTreeWriter``:

* compression ZSTD 1 / 3 (the default) / 5 / 9, LZ4 1, ZLIB 1, at 50k-event clusters;
* ZSTD 3 at 10k and 200k-event clusters (``cluster_size``: one basket per branch per cluster).

For each layout it prints: bytes per event, the CPU seconds of the write and, pinned to one
core, best of ``--repeat``, events per CPU second (robust on a shared machine; per wall second
too for the 23-branch read and the run) of: the plain read (``tree.arrays`` of the 23 branches
``na64 run`` reads, flat ones as numpy, MM/straw hits as awkward); the read of all branches;
(unless ``--no-run``) the whole ``run_analysis(..., executor="iterative")`` on that file
(validation with sha256, chunk planning with ``align_clusters``, reconstruction, cuts,
histograms, outputs) with the true constants of the period. The page cache is warm (the file
was just written): the read figures are decompression + deserialisation, not disk. Always
exits 0.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402

from na64reco.eventtree import contract  # noqa: E402

FLAT = tuple(b.name for b in contract.FIXED_BRANCHES)  # run ... counter_t: all read by the run
JAGGED = tuple(b.name for b in contract.JAGGED_BRANCHES)
LAYOUTS = (  # (compression, level, cluster size)
    ("zstd", 3, 50_000),
    ("zstd", 1, 50_000),
    ("zstd", 5, 50_000),
    ("zstd", 9, 50_000),
    ("lz4", 1, 50_000),
    ("zlib", 1, 50_000),
    ("zstd", 3, 10_000),
    ("zstd", 3, 200_000),
)


def _best(fn, repeat: int) -> tuple[float, float]:
    """(best wall s, best CPU s of this process) over ``repeat`` calls."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _read_run_columns(path: Path) -> None:
    with uproot.open(path) as f:
        tree = f[contract.TREE_NAME]
        tree.arrays(list(FLAT), library="np")
        tree.arrays(list(JAGGED), library="ak")


def _read_all(path: Path) -> None:
    with uproot.open(path) as f:
        f[contract.TREE_NAME].arrays(library="np")


def load_batch(manifest: Path, period: str, n_files: int) -> tuple[dict, dict, list]:
    """All branches of the first ``n_files`` physics runs of ``period`` (one writer batch)."""
    from na64reco.eventtree import open_event_file
    from na64reco.fileset import load_fileset

    entries = [
        e for e in load_fileset(manifest).files if e.kind == "physics" and e.period == period
    ]
    entries = sorted(entries, key=lambda e: e.run_min)[:n_files]
    if not entries:
        sys.exit(f"{manifest}: no physics file of period {period}")
    parts = [open_event_file(e.path, check_data=False) for e in entries]
    batches = [p.arrays() for p in parts]
    batch = {}
    for key in batches[0]:
        values = [b[key] for b in batches]
        batch[key] = (
            ak.concatenate(values, axis=0) if key in ("mm", "st") else np.concatenate(values)
        )
    return batch, parts[0].metadata, entries


def calibration_for(period: str, folder: Path) -> Path:
    """The period's true constants plus the shipped ECAL shower profile of its geometry."""
    import dataclasses

    from na64reco.calibration.io import load_calibration, write_calibration
    from na64reco.calibration.truth import calibration_from_truth
    from na64reco.conditions import get_period
    from na64reco.shipped import calibration_path

    shipped = load_calibration(calibration_path())
    nx = get_period(period).geometry.ecal_nx
    profile = next(
        c.shower_profile for c in shipped.sets if get_period(c.period).geometry.ecal_nx == nx
    )
    path = folder / f"calib_{period}_truth.json"
    cset = dataclasses.replace(calibration_from_truth(period), shower_profile=profile)
    write_calibration(path, [cset], version=1)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/benchdata/full_exposure"))
    ap.add_argument("--period", default="2018")
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a temp one)")
    ap.add_argument("--no-run", action="store_true", help="skip the run_analysis pass")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from na64reco.checksums import sha256_file
    from na64reco.eventtree.writer import EventTreeWriter
    from na64reco.fileset import Fileset, FilesetEntry, write_fileset
    from na64reco.run import run_analysis

    batch, metadata, entries = load_batch(args.data / "fileset.json", args.period, args.files)
    n = len(batch["run"])
    tmp = Path(tempfile.mkdtemp(prefix="na64_layout_", dir=args.tmp))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(
        f"{args.files} runs of {args.period} ({entries[0].run_min}-{entries[-1].run_max}), "
        f"{n:,} events, all {len(batch)} branch groups; uproot {uproot.__version__}; "
        f"load {os.getloadavg()[0]:.2f}; one core; best of {args.repeat}"
    )
    calib = calibration_for(args.period, tmp) if not args.no_run else None
    head = (
        f"{'layout':<16}{'B/ev':>6}{'write CPUs':>11}{'read23/CPUs':>13}{'read23/s':>12}"
        f"{'readall/CPUs':>13}{'run ev/CPUs':>13}{'run ev/s':>11}"
    )
    print(head)
    print("-" * len(head))
    try:
        for comp, level, cluster in LAYOUTS:
            name = f"{comp}{level}_c{cluster // 1000}k"
            path = tmp / f"{name}.root"
            c0 = time.process_time()
            with EventTreeWriter(
                path, metadata, compression=comp, level=level, cluster_size=cluster
            ) as w:
                w.extend(batch)
            t_write = time.process_time() - c0
            size = path.stat().st_size
            w_read, t_read = _best(lambda p=path: _read_run_columns(p), args.repeat)
            _, t_all = _best(lambda p=path: _read_all(p), args.repeat)
            run_rate = run_wall = float("nan")
            if not args.no_run:
                manifest = tmp / f"{name}.json"
                entry = FilesetEntry(
                    path=str(path),
                    kind="physics",
                    period=args.period,
                    run_min=entries[0].run_min,
                    run_max=entries[-1].run_max,
                    events=n,
                    eot=sum(e.eot for e in entries),
                    sha256=sha256_file(path),
                )
                write_fileset(manifest, Fileset(name=name, files=[entry]))

                def one_run(m=manifest, nm=name) -> None:
                    run_analysis(
                        m,
                        "invisible",
                        tmp / f"out_{nm}",
                        calibration=calib,
                        quiet=True,
                        make_plots=False,
                    )

                warm = int((comp, level, cluster) == LAYOUTS[0])  # numba warm-up
                w_run, c_run = _best(one_run, args.repeat + warm)
                run_rate, run_wall = n / c_run, n / w_run
            print(
                f"{name:<16}{size / n:>6.0f}{t_write:>11.2f}{n / t_read:>13,.0f}"
                f"{n / w_read:>12,.0f}{n / t_all:>13,.0f}{run_rate:>13,.0f}{run_wall:>11,.0f}",
                flush=True,
            )
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
