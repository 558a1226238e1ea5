"""Run an analysis over a fileset: validate, execute with coffea, account, write outputs.

``run_analysis(fileset_path, analysis, out_dir, ...)`` is the one entry point (``na64 run`` is a
thin wrapper). In order:

1. **Validate before running.** Load the manifest (``ConfigError`` if malformed), keep the files
   of the requested ``kinds``, check each one's sha256 against the manifest (``verify_checksums``),
   open it with ``open_event_file`` (the full schema-v1 validation), compare its entries with the
   manifest, read its run numbers and check they lie in the manifest's run range. A failure is
   an ``InputFileError`` naming file and problem; with ``skip_bad_files`` the file is left out
   and listed in the summary with its reason. Then every run of every file must have
   calibration constants (``CalibrationError`` naming run and file; never skipped).
2. **Plan the chunks** with ``Runner.preprocess`` (``maxchunks`` applied there) and run the
   ``SelectionProcessor`` with ``processor.Runner(schema=NA64Schema, align_clusters=True,
   savemetrics=True)`` on the Iterative, Futures or Dask executor. For Dask: connect to
   ``scheduler`` if given (the workers must have na64reco installed), else start a
   ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` and close it after.
   coffea's own ``skipbadfiles`` stays off: a file that fails mid-run is an error, never a
   silently partial result.
3. **Account exactly.** Per file: events processed (the processor's ``files`` output) must equal
   the events of its planned chunks, and processed + skipped must equal its entries; events are
   skipped only for a stated reason (bad file, ``maxchunks``). Any mismatch raises
   ``AccountingError``.
4. **Write** (``na64reco.outputs``): ``histograms.root``, ``histograms.pkl``, ``summary.json``,
   ``sideband_events.csv``; then ``na64reco.plotting.make_plots`` if that module exists.

Progress: coffea's rich bars ignore ``status=False`` in the Iterative and Futures executors, so
``quiet=True`` also silences coffea's rich console (``coffea.util.coffea_console.quiet``) for the
duration of the run, restoring it afterwards (see ``progress_output``).

Blinding is done by the processor at the source (``na64reco.cutsets.evaluate``); here an
``unblind=True`` run is recorded (time, user) in ``summary.json`` and in a WARNING log line.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from na64reco.calibration.constants import CalibrationDB, CalibrationError
from na64reco.cutsets.config import CutSet, load_cutset
from na64reco.errors import InputFileError, NA64Error
from na64reco.fileset import load_fileset, sha256_file

logger = logging.getLogger(__name__)

__all__ = [
    "ANALYSES",
    "EXECUTORS",
    "AccountingError",
    "InputFile",
    "default_calibration_path",
    "progress_output",
    "resolve_analysis",
    "run_analysis",
    "validate_inputs",
]

#: analysis name -> shipped cut set (``selections/<name>.toml``); all use SelectionProcessor
ANALYSES: dict[str, str] = {"invisible": "invisible", "dimuon": "dimuon", "phi": "phi"}
EXECUTORS = ("iterative", "futures", "dask")
DEFAULT_CALIBRATION = "na64sim-2016-2022.json"


class AccountingError(NA64Error):
    """Events processed + skipped do not add up to a file's entries."""


@dataclass(frozen=True)
class InputFile:
    """A validated input file."""

    path: str
    kind: str
    period: str
    entries: int
    sha256: str
    runs: tuple[int, ...]


def resolve_analysis(analysis: str | Path) -> CutSet:
    """The cut set of a named analysis (``invisible``, ``dimuon``, ``phi``) or a ``.toml`` path."""
    text = str(analysis)
    if text in ANALYSES:
        return load_cutset(ANALYSES[text])
    if text.endswith(".toml"):
        return load_cutset(Path(text))
    raise ValueError(
        f"unknown analysis {text!r}: use one of {', '.join(ANALYSES)} or a cut-set .toml file"
    )


def default_calibration_path() -> Path:
    """The shipped constants for the shipped sample (``calib/na64sim-2016-2022.json``)."""
    return Path(str(resources.files("na64reco.calib") / DEFAULT_CALIBRATION))


# --- validation ------------------------------------------------------------------------------
def _check_file(entry: Any, verify_checksums: bool) -> InputFile:
    """Validate one manifest entry; raise InputFileError naming the file and the problem."""
    from na64reco.eventtree import open_event_file
    from na64reco.eventtree.contract import TREE_NAME

    path = entry.path
    sha = entry.sha256
    if verify_checksums:
        try:
            sha = sha256_file(path)
        except OSError as exc:
            raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
        if sha != entry.sha256:
            raise InputFileError(
                path, "sha256", f"checksum mismatch: manifest {entry.sha256}, file {sha}"
            )
    # a verified checksum proves the bytes are those written: the header and structure checks
    # still run, the full read of every branch (a second decompression of the file) is spared
    efile = open_event_file(path, check_data=not verify_checksums)
    if efile.num_entries != entry.events:
        raise InputFileError(
            path,
            f"tree {TREE_NAME}",
            f"{efile.num_entries} entries, the manifest says {entry.events}",
        )
    try:
        with uproot.open(path) as f:
            runs = np.unique(f[TREE_NAME]["run"].array(library="np"))
    except Exception as exc:
        raise InputFileError(path, "branch run", f"unreadable: {exc}") from exc
    outside = [int(r) for r in runs if not entry.run_min <= r <= entry.run_max]
    if outside:
        raise InputFileError(
            path,
            "branch run",
            f"runs {outside[:5]} outside the manifest's range {entry.run_min}-{entry.run_max}",
        )
    return InputFile(
        path=path,
        kind=entry.kind,
        period=entry.period,
        entries=int(efile.num_entries),
        sha256=sha,
        runs=tuple(int(r) for r in runs),
    )


VALIDATION_THREADS = 2  # files hashed and opened at once before a run


def validate_inputs(
    fileset_path: str | Path,
    kinds: Sequence[str],
    calibration: CalibrationDB,
    *,
    skip_bad_files: bool = False,
    verify_checksums: bool = True,
) -> tuple[list[InputFile], list[dict]]:
    """Validate the files of ``kinds`` in a manifest: (good files, bad files with reasons).

    Raises ConfigError (manifest), InputFileError (a bad file, unless ``skip_bad_files``),
    CalibrationError (a run without constants, naming run and file) or NA64Error (no file of
    the requested kinds).
    """
    fileset = load_fileset(fileset_path, verify_checksums=False)
    selected = [e for e in fileset.files if e.kind in kinds]
    if not selected:
        found = sorted({e.kind for e in fileset.files})
        raise NA64Error(
            f"{fileset_path}: no file of kind {', '.join(kinds)} (kinds present: "
            f"{', '.join(found)})"
        )
    good: list[InputFile] = []
    bad: list[dict] = []

    def check(entry):
        try:
            return _check_file(entry, verify_checksums)
        except InputFileError as exc:
            return exc

    # the checks hash and open files: I/O and hashlib release the GIL, so two threads overlap
    with ThreadPoolExecutor(max_workers=VALIDATION_THREADS) as pool:
        checked = list(pool.map(check, selected))  # in manifest order
    for entry, result in zip(selected, checked, strict=True):
        if isinstance(result, InputFile):
            good.append(result)
            continue
        exc = result
        if not skip_bad_files:
            raise exc
        logger.warning("skipping bad file %s", exc)
        bad.append(
            {
                "path": entry.path,
                "kind": entry.kind,
                "entries": entry.events,  # unreadable file: the manifest's count
                "item": exc.item,
                "reason": exc.problem,
            }
        )
    for f in good:
        missing = []
        for run in f.runs:
            try:
                calibration.for_run(run)
            except CalibrationError:
                missing.append(run)
        if missing:
            ranges = ", ".join(
                f"{c.name} v{c.version}: {c.run_min}-{c.run_max}" for c in calibration.sets
            )
            raise CalibrationError(
                f"{f.path}: run(s) {', '.join(map(str, missing))} have no calibration constants "
                f"in {calibration.source or 'the calibration'} ({ranges})"
            )
    if not good:
        raise NA64Error(f"{fileset_path}: every input file is bad, nothing to run on")
    return good, bad


# --- execution -------------------------------------------------------------------------------
@contextlib.contextmanager
def progress_output(quiet: bool) -> Iterator[None]:
    """Silence coffea's rich progress bars while ``quiet`` (restored on exit).

    coffea draws its bars on ``coffea.util.coffea_console`` and its Iterative and Futures
    executors ignore ``status=False``; a quiet rich Console prints nothing at all.
    """
    from coffea.util import coffea_console

    previous = coffea_console.quiet
    coffea_console.quiet = previous or quiet
    try:
        yield
    finally:
        coffea_console.quiet = previous


@contextlib.contextmanager
def _quiet_logger(name: str, level: int) -> Iterator[None]:
    """Raise a chatty library logger's level (scheduler/worker INFO lines) while running."""
    log = logging.getLogger(name)
    previous = log.level
    if log.getEffectiveLevel() > logging.DEBUG:  # -vv keeps everything
        log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        yield
    finally:
        log.setLevel(previous)


@contextlib.contextmanager
def make_executor(
    name: str, workers: int, scheduler: str | None, quiet: bool
) -> Iterator[tuple[Any, dict]]:
    """A coffea executor and a description of it (closes a LocalCluster it started)."""
    from coffea import processor

    status = not quiet
    if name == "iterative":
        yield processor.IterativeExecutor(status=status), {"name": name}
    elif name == "futures":
        yield (
            processor.FuturesExecutor(workers=workers, status=status),
            {"name": name, "workers": workers},
        )
    elif name == "dask":
        from distributed import Client, LocalCluster

        if scheduler:
            with Client(scheduler) as client:
                n = len(client.scheduler_info().get("workers", {}))
                yield (
                    processor.DaskExecutor(client=client, status=status),
                    {"name": name, "scheduler": scheduler, "workers": n},
                )
        else:
            with (
                _quiet_logger("distributed", logging.ERROR if quiet else logging.WARNING),
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    # no fixed ports: the scheduler and its dashboard take free ones, so a run
                    # never collides with another cluster on the machine
                    scheduler_port=0,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR if quiet else logging.WARNING,
                ) as cluster,
                Client(cluster) as client,
            ):
                yield (
                    processor.DaskExecutor(client=client, status=status),
                    {"name": name, "scheduler": "LocalCluster", "workers": workers},
                )
    else:
        raise ValueError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")


def account(
    files: list[InputFile],
    bad: list[dict],
    planned: dict[str, int],
    processed: dict[str, int],
    maxchunks: int | None,
) -> list[dict]:
    """Per file: entries, processed, skipped, reason; raise AccountingError on any mismatch."""
    rows = []
    known = {f.path for f in files}
    unexpected = sorted(set(processed) - known)
    if unexpected:
        raise AccountingError(f"events processed from files not in the input: {unexpected}")
    for f in files:
        n_done = int(processed.get(f.path, 0))
        n_plan = int(planned.get(f.path, 0))
        if n_done != n_plan:
            raise AccountingError(
                f"{f.path}: {n_done} events processed, but its chunks hold {n_plan}"
            )
        skipped = f.entries - n_done
        reason = None
        if skipped < 0:
            raise AccountingError(f"{f.path}: {n_done} events processed, the file has {f.entries}")
        if skipped > 0:
            if maxchunks is None:
                raise AccountingError(
                    f"{f.path}: {n_done} of {f.entries} events processed and no reason to skip any"
                )
            reason = f"maxchunks={maxchunks}: chunks beyond the limit not processed"
        rows.append(
            {
                "path": f.path,
                "kind": f.kind,
                "entries": f.entries,
                "processed": n_done,
                "skipped": skipped,
                "reason": reason,
            }
        )
    for b in bad:
        rows.append(
            {
                "path": b["path"],
                "kind": b["kind"],
                "entries": b["entries"],
                "processed": 0,
                "skipped": b["entries"],
                "reason": f"bad file: {b['item']}: {b['reason']}",
            }
        )
    for row in rows:  # the invariant, checked once more on what is reported
        if row["processed"] + row["skipped"] != row["entries"]:
            raise AccountingError(f"{row['path']}: processed + skipped != entries")
    return rows


def _run_processor(
    files: list[InputFile],
    processor_instance: Any,
    executor: Any,
    *,
    dataset: str,
    chunksize: int,
    maxchunks: int | None,
) -> tuple[dict, dict, dict[str, int]]:
    """(output, metrics, events planned per file)."""
    from coffea import processor

    from na64reco.eventtree import NA64Schema
    from na64reco.eventtree.contract import TREE_NAME

    runner = processor.Runner(
        executor,
        schema=NA64Schema,
        chunksize=chunksize,
        maxchunks=maxchunks,
        skipbadfiles=False,
        align_clusters=True,
        savemetrics=True,
    )
    coffea_fileset = {dataset: {"files": {f.path: TREE_NAME for f in files if f.entries > 0}}}
    if not coffea_fileset[dataset]["files"]:
        raise NA64Error("every input file is empty, nothing to run on")
    chunks = list(runner.preprocess(coffea_fileset))
    planned: dict[str, int] = {}
    for chunk in chunks:
        planned[chunk.filename] = planned.get(chunk.filename, 0) + len(chunk)
    out, metrics = runner(chunks, processor_instance)
    return out, metrics, planned


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return os.environ.get("USER", "unknown")


def _plain(value: Any) -> Any:
    """JSON-safe copy of coffea metrics (sets, numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset | list | tuple):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, np.generic):
        return value.item()
    return value


def _make_plots(histograms: dict, summary: dict, out_dir: Path) -> str:
    try:
        plotting = importlib.import_module("na64reco.plotting")
    except ModuleNotFoundError as exc:
        if exc.name != "na64reco.plotting":
            raise
        logger.warning("na64reco.plotting is not available: no plots made")
        return "skipped: na64reco.plotting not available"
    make_plots = getattr(plotting, "make_plots", None)
    if make_plots is None:
        logger.warning("na64reco.plotting has no make_plots: no plots made")
        return "skipped: na64reco.plotting.make_plots not available"
    try:
        written = make_plots(histograms, summary, out_dir)
    except Exception as exc:  # plots are secondary: the analysis outputs are already written
        logger.error("plotting failed (outputs are complete): %s: %s", type(exc).__name__, exc)
        return f"failed: {type(exc).__name__}: {exc}"
    return f"made {len(written)}" if isinstance(written, list | tuple) else "made"


def run_analysis(
    fileset_path: str | Path,
    analysis: str | Path,
    out_dir: str | Path,
    *,
    executor: str = "iterative",
    workers: int = 2,
    scheduler: str | None = None,
    chunksize: int = 100_000,
    calibration: str | Path | None = None,
    unblind: bool = False,
    skip_bad_files: bool = False,
    maxchunks: int | None = None,
    quiet: bool = False,
    kinds: Sequence[str] = ("physics",),
    verify_checksums: bool = True,
    make_plots: bool = True,
) -> dict:
    """Run ``analysis`` on the ``kinds`` files of a fileset; write outputs to ``out_dir``.

    Returns the summary written to ``summary.json``. See the module docstring for the steps.
    """
    from na64reco.calibration.io import load_calibration
    from na64reco.outputs import (
        flat_histograms,
        report_cutflow,
        sideband_table,
        write_pickle,
        write_root,
        write_sideband_csv,
        write_summary,
    )
    from na64reco.processors.selection import SelectionProcessor
    from na64reco.provenance import provenance, utc_now

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if chunksize < 1:
        raise ValueError("chunksize must be at least 1")
    if maxchunks is not None and maxchunks < 1:
        raise ValueError("maxchunks must be at least 1")
    kinds = tuple(kinds)
    cutset = resolve_analysis(analysis)
    calib_path = Path(calibration) if calibration is not None else default_calibration_path()
    calib_db = load_calibration(calib_path)
    files, bad = validate_inputs(
        fileset_path,
        kinds,
        calib_db,
        skip_bad_files=skip_bad_files,
        verify_checksums=verify_checksums,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    blinding = {"blinded": not unblind, "unblinded_at": None, "unblinded_by": None}
    if unblind:
        blinding["unblinded_at"] = utc_now()
        blinding["unblinded_by"] = _user_name()
        logger.warning(
            "UNBLINDING: analysis %s (cut set %s v%d) run with the signal region %s visible, "
            "by %s at %s",
            analysis,
            cutset.name,
            cutset.version,
            " & ".join(cutset.signal_box) or "(none)",
            blinding["unblinded_by"],
            blinding["unblinded_at"],
        )

    proc = SelectionProcessor(cutset, calib_db, unblind=unblind)
    logger.info(
        "running %s on %d file(s) (%d events) with the %s executor",
        cutset.name,
        len(files),
        sum(f.entries for f in files),
        executor,
    )
    t0 = time.perf_counter()
    with progress_output(quiet), make_executor(executor, workers, scheduler, quiet) as (exe, desc):
        output, metrics, planned = _run_processor(
            files,
            proc,
            exe,
            dataset=Path(fileset_path).stem,
            chunksize=chunksize,
            maxchunks=maxchunks,
        )
    wall = time.perf_counter() - t0
    accounting = account(files, bad, planned, output["files"], maxchunks)

    histograms = flat_histograms(output)
    write_root(out / "histograms.root", histograms)
    write_pickle(out / "histograms.pkl", output)
    rows = sideband_table(output["sideband_events"])
    write_sideband_csv(out / "sideband_events.csv", rows)

    calib_info = {
        "path": str(calib_path.resolve()),
        "sha256": sha256_file(calib_path),
        "sets": [
            {
                "name": c.name,
                "version": c.version,
                "period": c.period,
                "run_min": c.run_min,
                "run_max": c.run_max,
            }
            for c in calib_db.sets
        ],
    }
    summary: dict[str, Any] = {
        "analysis": str(analysis),
        "cutset": cutset.as_dict(),
        "blinding": blinding,
        "cutflow": report_cutflow(output["cutflow"], cutset, unblind),
        "accounting": accounting,
        "bad_files": bad,
        "skipped": [r for r in accounting if r["skipped"]],
        "sideband_events": len(rows),
        "outputs": {
            "histograms_root": "histograms.root",
            "histograms_pickle": "histograms.pkl",
            "sideband_events": "sideband_events.csv",
            "histograms": sorted(histograms),
        },
        "metrics": {**_plain(metrics), "wall_s": round(wall, 3)},
        "provenance": provenance(
            inputs=[{"path": f.path, "sha256": f.sha256, "events": f.entries} for f in files],
            fileset=str(Path(fileset_path).resolve()),
            kinds=list(kinds),
            calibration=calib_info,
            cutset={"name": cutset.name, "version": cutset.version, "source": cutset.source},
            executor=desc,
            chunksize=chunksize,
            maxchunks=maxchunks,
            unblind=unblind,
        ),
    }
    plot_input = {
        "plane": output["plane"],
        "nminus1": output["nminus1"],
        "cutflow": summary["cutflow"],  # signal-region cuts null while blinded
    }
    summary["plots"] = _make_plots(plot_input, summary, out) if make_plots else "not requested"
    write_summary(out / "summary.json", summary)
    logger.info("wrote %s (%.1f s)", out, wall)
    return summary
