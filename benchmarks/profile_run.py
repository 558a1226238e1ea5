"""Where the time of ``na64 run`` goes: per stage and per kernel, plus cProfile.

    python benchmarks/profile_run.py --fileset FILESET.json [--calibration CALIB.json]
        [--files 4] [--chunksize 100000] [--analysis invisible] [--cprofile 25]

One process pinned to one core runs ``SelectionProcessor.process`` on the chunks of the first
``--files`` physics files, as the iterative executor does (NanoEvents in virtual mode), with
timers wrapped around the functions it calls (after one warm-up chunk: numba caches):

* *NanoEvents factory*: ``NanoEventsFactory.from_root(...).events()``;
* *read + decompress columns*: ``raw_arrays`` with the lazy MM/straw hits materialised, so that
  every basket is read and decompressed here (the plain uproot read of the same columns is
  printed for reference);
* inside ``reconstruct_event``: ``reconstruct_calorimeters``, ``shower_chi2``,
  ``emulate_trigger``; ``event_tracks`` (before it) with ``reconstruct_tracks`` split into
  the flattening of the awkward hits (``_flat``), ``cluster_hits`` and ``track_events``
  (numba) and the rest;
* the blinded regions' energies under the blinding constants (``region_variables``: 0 when
  they are the analysis's constants);
* *cut evaluation* (``cut_masks``, ``blind_mask``), *histogram filling* (``hist.Hist.fill``),
  the rest of ``_fill`` (N-1 masks, sideband rows);
* *output merging*: ``coffea.processor.accumulate`` of the chunk outputs, and the pickled size of
  one chunk's output (what a Dask or futures worker sends back).

Then the cProfile of the same loop (top ``--cprofile`` functions by own time).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pickle  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import hist  # noqa: E402
import uproot  # noqa: E402
from coffea import processor  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

T: dict[str, float] = defaultdict(float)


def _wrap(owner, name: str, label: str) -> None:
    real = getattr(owner, name)

    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            T[label] += time.perf_counter() - t0

    setattr(owner, name, timed)


def instrument() -> None:
    """Timers around the calls of the processor (module attributes replaced in place)."""
    from na64reco.processors import selection
    from na64reco.reco import event, tracking, tracking_kernels

    real_raw = selection.raw_arrays

    def raw(events):
        t0 = time.perf_counter()
        out = real_raw(events)
        out["mm"], out["st"] = ak.materialize(out["mm"]), ak.materialize(out["st"])
        T["read + decompress columns"] += time.perf_counter() - t0
        return out

    selection.raw_arrays = raw
    _wrap(selection, "reconstruct_event", "reconstruct_event (total)")
    _wrap(event, "reconstruct_calorimeters", "  calorimeters (numba)")
    _wrap(event, "shower_chi2", "  shower_chi2 (numpy)")
    _wrap(event, "emulate_trigger", "  trigger emulation")
    _wrap(selection, "event_tracks", "event_tracks (total)")
    _wrap(event, "reconstruct_tracks", "  reconstruct_tracks (total)")
    _wrap(selection, "region_variables", "blinded regions (region_variables)")
    _wrap(tracking, "_flat", "    hits to flat numpy (_flat)")
    _wrap(tracking_kernels, "cluster_hits", "    cluster_hits (numba)")
    _wrap(tracking_kernels, "track_events", "    track_events (numba)")
    _wrap(selection, "cut_masks", "cut evaluation (cut_masks)")
    _wrap(selection, "blind_mask", "blinding (blind_mask)")
    _wrap(hist.Hist, "fill", "histogram filling (Hist.fill)")
    _wrap(selection.SelectionProcessor, "_fill", "_fill (total)")


def chunks(paths: list[str], chunksize: int):
    for path in paths:
        with uproot.open(path) as f:
            n = f["events"].num_entries
        for start in range(0, n, chunksize):
            yield path, start, min(n, start + chunksize)


def run(paths, chunksize, proc, timing: bool) -> tuple[int, list]:
    """The iterative executor's loop: factory, process, accumulate."""
    from bench_run import chunk_events

    outputs, n = [], 0
    for path, start, stop in chunks(paths, chunksize):
        t0 = time.perf_counter()
        events = chunk_events(path, start, stop)
        t1 = time.perf_counter()
        outputs.append(proc.process(events))
        t2 = time.perf_counter()
        if timing:
            T["NanoEvents factory"] += t1 - t0
            T["process (total)"] += t2 - t1
        n += stop - start
    t0 = time.perf_counter()
    processor.accumulate(outputs)
    if timing:
        T["output merging (accumulate)"] += time.perf_counter() - t0
    return n, outputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fileset", type=Path, required=True)
    ap.add_argument("--calibration", type=Path, default=None)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--chunksize", type=int, default=100_000)
    ap.add_argument("--analysis", default="invisible")
    ap.add_argument("--cprofile", type=int, default=25, help="functions shown (0: no cProfile)")
    args = ap.parse_args()

    from bench_run import FLAT, JAGGED, _pin, plain_read
    from run_all import physics_files

    from na64reco.analyses import resolve_cutset
    from na64reco.calibration.io import load_calibration
    from na64reco.processors.selection import SelectionProcessor
    from na64reco.shipped import calibration_path

    if args.calibration is None:  # a simulation's own truth constants, else the shipped ones
        own = sorted(args.fileset.parent.glob("calib_*_truth.json"))
        args.calibration = own[0] if own else calibration_path()
    paths = [e.path for e in physics_files(args.fileset, args.files)]
    print(f"{_pin(None)}; {len(paths)} files; load average {os.getloadavg()[0]:.2f}")
    proc = SelectionProcessor(resolve_cutset(args.analysis), load_calibration(args.calibration))
    run(paths[:1], 2000, proc, timing=False)  # warm-up: imports, numba caches

    t0 = time.perf_counter()
    n_read = plain_read(paths)
    t_read = time.perf_counter() - t0
    instrument()
    t0 = time.perf_counter()
    n, outputs = run(paths, args.chunksize, proc, timing=True)
    wall = time.perf_counter() - t0
    assert n == n_read, (n, n_read)
    size = len(pickle.dumps(outputs[0], protocol=pickle.HIGHEST_PROTOCOL))
    plane = len(pickle.dumps(outputs[0]["plane"], protocol=pickle.HIGHEST_PROTOCOL))

    print(f"\n{n:,} events in {wall:.2f} s ({n / wall:,.0f} ev/s, one core, instrumented)")
    print(f"plain uproot read of the {len(FLAT) + len(JAGGED)} columns: {t_read:.2f} s "
          f"({1e6 * t_read / n:.2f} us/event)")  # fmt: skip
    print(f"{'stage':40s} {'s':>7s} {'us/event':>9s} {'share':>6s}")
    rest_fill = T["_fill (total)"] - T["reconstruct_event (total)"] - T[
        "event_tracks (total)"] - T["blinded regions (region_variables)"] - T[
        "cut evaluation (cut_masks)"] - T["blinding (blind_mask)"] - T[
        "histogram filling (Hist.fill)"]  # fmt: skip
    tracks_rest = T["  reconstruct_tracks (total)"] - T["    hits to flat numpy (_flat)"] - T[
        "    cluster_hits (numba)"] - T["    track_events (numba)"]  # fmt: skip
    reco_rest = T["reconstruct_event (total)"] - sum(
        T[k] for k in ("  calorimeters (numba)", "  shower_chi2 (numpy)", "  trigger emulation")
    )
    process_rest = T["process (total)"] - T["read + decompress columns"] - T["_fill (total)"]
    order = [
        ("NanoEvents factory", T["NanoEvents factory"]),
        ("read + decompress columns", T["read + decompress columns"]),
        ("reconstruct_event (total)", T["reconstruct_event (total)"]),
        ("  calorimeters (numba)", T["  calorimeters (numba)"]),
        ("  shower_chi2 (numpy)", T["  shower_chi2 (numpy)"]),
        ("  trigger emulation", T["  trigger emulation"]),
        ("  rest of reconstruct_event", reco_rest),
        ("event_tracks (total)", T["event_tracks (total)"]),
        ("  reconstruct_tracks (total)", T["  reconstruct_tracks (total)"]),
        ("    hits to flat numpy (_flat)", T["    hits to flat numpy (_flat)"]),
        ("    cluster_hits (numba)", T["    cluster_hits (numba)"]),
        ("    track_events (numba)", T["    track_events (numba)"]),
        ("    rest of reconstruct_tracks", tracks_rest),
        ("blinded regions (region_variables)", T["blinded regions (region_variables)"]),
        ("cut evaluation (cut_masks)", T["cut evaluation (cut_masks)"]),
        ("blinding (blind_mask)", T["blinding (blind_mask)"]),
        ("histogram filling (Hist.fill)", T["histogram filling (Hist.fill)"]),
        ("rest of _fill (N-1 masks, sideband)", rest_fill),
        ("rest of process (output dict, hists)", process_rest),
        ("output merging (accumulate)", T["output merging (accumulate)"]),
    ]
    total = T["NanoEvents factory"] + T["process (total)"] + T["output merging (accumulate)"]
    for label, v in order:
        print(f"{label:40s} {v:7.3f} {1e6 * v / n:9.2f} {v / total:6.1%}")
    print(f"{'total':40s} {total:7.3f} {1e6 * total / n:9.2f}")
    print(f"one chunk's output pickled: {size / 2**20:.2f} MiB, of which the plane histogram "
          f"{plane / 2**20:.2f} MiB")  # fmt: skip

    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        run(paths, args.chunksize, proc, timing=False)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.cprofile)
        print("\ncProfile (own time):")
        print("\n".join(buf.getvalue().splitlines()[4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
