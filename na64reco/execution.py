"""Run an analysis over a fileset: validate, execute with coffea, account, write outputs.

``run_analysis(fileset_path, analysis, out_dir, ...)`` is the one entry point (``na64 run`` is a
thin wrapper). In order:

1. **Validate before running.** Load the manifest (``ConfigError`` if malformed), keep the files
   of the requested ``kinds``, check each one's sha256 against the manifest (``verify_checksums``;
   a file unchanged on disk since it was last hashed takes its sha256 from the cache of
   ``na64reco.checksums`` unless ``checksum_cache=False``), open it with ``open_event_file``
   (the full schema-v1 validation; it also reads the run numbers, the file UUID and the cluster
   boundaries), compare its entries with the manifest and check its runs lie in the manifest's
   run range. A failure is
   an ``InputFileError`` naming file and problem; with ``skip_bad_files`` the file is left out
   and listed in the summary with its reason. Then every run of every file must have
   calibration constants (``CalibrationError`` naming run and file; never skipped). With
   ``skip_bad_files`` every amplitude and time is also read here (``EventFile.scan_values``), so
   a file with non-finite or absurd values is skipped like any other bad file; without it the
   processor finds such values chunk by chunk and the run raises ``InputFileError`` at the end.
2. **Plan the chunks** with ``Runner.preprocess`` (``maxchunks`` applied there; its metadata
   cache is filled from the validation, so no file is opened again) and run the
   ``SelectionProcessor`` with ``processor.Runner(schema=NA64Schema, align_clusters=True,
   savemetrics=True)`` on the Iterative, Futures or Dask executor. The executor is started
   before the validation (step 1), and each Dask worker processes the first ``WARM_UP_EVENTS``
   events of the first input meanwhile (imports, numba kernels). For Dask: connect to
   ``scheduler`` if given (the workers must have na64reco installed), else start a
   ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` and close it after.
   coffea's own ``skipbadfiles`` stays off: a file that fails mid-run is an error, never a
   silently partial result. A Dask worker lost mid-run: the scheduler re-runs its tasks
   elsewhere (up to its ``allowed-failures``), else the run stops with an ``NA64Error``.
   **Checkpoints** (``checkpoint=True``, on by default in ``na64 run``): coffea's checkpointer
   hook saves each finished chunk (``ChunkCheckpointer``, atomic writes, keyed by cut set,
   calibration, code, blinding and input file); ``resume=True`` loads the saved chunks of an
   interrupted run of the same configuration and processes only the others.
3. **Account exactly.** Per file: events processed (the processor's ``files`` output) must equal
   the events of its planned chunks, and processed + skipped must equal its entries; events are
   skipped only for a stated reason (bad file, ``maxchunks``). Any mismatch raises
   ``AccountingError``.
4. **Write** (``na64reco.outputs``, each file atomically): ``histograms.root``,
   ``histograms.pkl``, ``sideband_events.csv``, the plots (``na64reco.plotting.make_plots``),
   ``summary.json`` last; a previous run's ``summary.json`` is removed when the run starts, so a
   folder with a ``summary.json`` holds complete outputs. The checkpoints are then removed.

Progress: coffea's rich bars ignore ``status=False`` in the Iterative and Futures executors, so
``quiet=True`` also silences coffea's rich console (``coffea.util.coffea_console.quiet``) for the
duration of the run, restoring it afterwards (see ``progress_output``).

Blinding is done by the processor at the source (``na64reco.cutsets.evaluate``); here an
``unblind=True`` run is recorded (time, user) in ``summary.json`` and in a WARNING log line.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import importlib
import json
import logging
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np
import uproot
from coffea.processor import CheckpointerABC

from na64reco import __version__
from na64reco.calibration.constants import CalibrationDB, CalibrationError
from na64reco.checksums import (
    cached_record,
    file_sha256,
    file_status,
    remember_record,
    sha256_file,
)
from na64reco.cutsets.config import CutSet, load_cutset
from na64reco.errors import InputFileError, NA64Error
from na64reco.fileset import load_fileset

logger = logging.getLogger(__name__)

__all__ = [
    "ANALYSES",
    "EXECUTORS",
    "AccountingError",
    "ChunkCheckpointer",
    "InputFile",
    "default_calibration_path",
    "local_cluster_config",
    "progress_output",
    "resolve_analysis",
    "run_analysis",
    "validate_inputs",
]

#: analysis name -> shipped cut set (``selections/<name>.toml``); all use SelectionProcessor
ANALYSES: dict[str, str] = {"invisible": "invisible", "dimuon": "dimuon", "phi": "phi"}
EXECUTORS = ("iterative", "futures", "dask")
DEFAULT_CALIBRATION = "na64sim-2016-2022.json"
SCHEDULER_CONNECT_TIMEOUT_S = 10  # an unreachable --scheduler fails after this, not hangs


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
    checksum: str = "manifest"  # how sha256 was verified: computed, cache, or manifest (not)
    contract: str = "checked"  # the contract checks: checked now, or cache (unchanged file)
    uuid: bytes = b""
    clusters: tuple[int, ...] = ()


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
def _check_file(
    entry: Any, verify_checksums: bool, scan_values: bool = False, checksum_cache: bool = True
) -> InputFile:
    """Validate one manifest entry; raise InputFileError naming the file and the problem.

    ``scan_values``: also read every amplitude and time (``EventFile.scan_values``), so that a
    file with corrupt values is found here (and can be skipped) rather than during the run.
    ``checksum_cache``: take the sha256 from ``na64reco.checksums``'s cache when the file's
    status is unchanged since it was last hashed, and then also the outcome of its contract
    checks (entries, runs, UUID, clusters) if the same code validated it before."""
    from na64reco.eventtree import open_event_file
    from na64reco.eventtree.contract import TREE_NAME

    path = entry.path
    sha, how = entry.sha256, "manifest"
    if verify_checksums:
        try:
            sha, how = file_sha256(path, use_cache=checksum_cache)
        except OSError as exc:
            raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
        if sha != entry.sha256:
            raise InputFileError(
                path, "sha256", f"checksum mismatch: manifest {entry.sha256}, file {sha}"
            )
    # a file unchanged since an earlier run validated it, with the same code: the same outcome
    key = f"validation {_code_digest()} uproot {uproot.__version__} scan_values={scan_values}"
    record = cached_record(path, key) if how == "cache" else None
    contract_check = "cache" if record is not None else "checked"
    if record is None:
        try:
            status = file_status(path)
        except OSError as exc:
            raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
        # a verified checksum proves the bytes are those written: the header and structure
        # checks still run, the full read of every branch (a second decompression) is spared
        efile = open_event_file(path, check_data=not verify_checksums)
        if scan_values:
            efile.scan_values()
        record = {
            "entries": int(efile.num_entries),
            "runs": list(efile.runs),
            "uuid": efile.uuid.hex(),
            "clusters": list(efile.clusters),
        }
        if verify_checksums and checksum_cache:
            remember_record(path, key, status, record)
    if record["entries"] != entry.events:
        raise InputFileError(
            path,
            f"tree {TREE_NAME}",
            f"{record['entries']} entries, the manifest says {entry.events}",
        )
    outside = [r for r in record["runs"] if not entry.run_min <= r <= entry.run_max]
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
        entries=record["entries"],
        sha256=sha,
        runs=tuple(record["runs"]),
        checksum=how,
        uuid=bytes.fromhex(record["uuid"]),
        clusters=tuple(record["clusters"]),
        contract=contract_check,
    )


VALIDATION_THREADS = 2  # files hashed and opened at once before a run


TASKS_PER_WORKER = 4  # validation tasks per Dask worker (each checks a batch of files)


def _check_batch(check: Callable, entries: list) -> list:
    return [check(e) for e in entries]


def dask_mapper(client: Any) -> Callable[[Callable, list], list]:
    """``map_files`` for ``validate_inputs`` that checks the files on the workers of a Dask
    ``client`` (results in input order), in ``TASKS_PER_WORKER`` batches per worker: on a
    cluster the first run's hashing of every byte is spread over the workers instead of the
    client's two threads, without one scheduler task per file (370k run files at ~1 ms per
    task would make the scheduler the limit)."""

    def map_files(check: Callable, entries: list) -> list:
        if not entries:
            return []
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = -(-len(entries) // (TASKS_PER_WORKER * n_workers))
        batches = [entries[i : i + size] for i in range(0, len(entries), size)]
        futures = [
            client.submit(_check_batch, check, b, pure=False, key=f"na64-validate-{uuid.uuid4()}")
            for b in batches
        ]
        try:
            return [r for batch in client.gather(futures) for r in batch]
        finally:
            client.cancel(futures)

    return map_files


def validate_inputs(
    fileset_path: str | Path,
    kinds: Sequence[str],
    calibration: CalibrationDB,
    *,
    skip_bad_files: bool = False,
    verify_checksums: bool = True,
    checksum_cache: bool = True,
    map_files: Callable[[Callable, list], list] | None = None,
) -> tuple[list[InputFile], list[dict]]:
    """Validate the files of ``kinds`` in a manifest: (good files, bad files with reasons).

    Raises ConfigError (manifest), InputFileError (a bad file, unless ``skip_bad_files``),
    CalibrationError (a run without constants, naming run and file) or NA64Error (no file of
    the requested kinds). ``map_files(check, entries)``: where the files are checked, e.g. on
    Dask workers (``dask_mapper``); default: ``VALIDATION_THREADS`` threads here.
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
            return _check_file(
                entry, verify_checksums, scan_values=skip_bad_files, checksum_cache=checksum_cache
            )
        except InputFileError as exc:
            return exc

    if map_files is not None:
        checked = list(map_files(check, selected))  # in manifest order
    else:
        # the checks hash and open files: I/O and hashlib release the GIL, so threads overlap
        with ThreadPoolExecutor(max_workers=VALIDATION_THREADS) as pool:
            checked = list(pool.map(check, selected))
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


def _check_workers(client: Any, scheduler: str) -> None:
    """Every worker imports na64reco in the client's version (a worker without it dies on the
    first task and the run waits forever). ``eval`` is pickled by name, so it reaches them all."""
    from na64reco import __version__

    try:
        versions = client.run(eval, "__import__('na64reco').__version__")
    except Exception as exc:
        raise NA64Error(
            f"Dask workers of {scheduler} cannot import na64reco ({type(exc).__name__}: {exc}): "
            "install it in the workers' environment (docs/scale.md)"
        ) from exc
    wrong = {w: v for w, v in versions.items() if v != __version__}
    if wrong:
        raise NA64Error(
            f"Dask workers of {scheduler} run other na64reco versions than the "
            f"client's {__version__}: {wrong}"
        )


def local_cluster_config() -> dict:
    """Dask settings for the workers of a LocalCluster that runs na64reco chunks.

    * ``MALLOC_TRIM_THRESHOLD_`` is not set in the workers: distributed's nannies set it to 64 kB
      so that freed memory goes back to the system at once, which makes glibc unmap and fault in
      again every large numpy buffer of a chunk: the processing took 40 % longer (30-32 s against
      21-22 s of CPU for 3.0e6 events); without uproot's array cache (``chunk_uproot_options``)
      a chunk's columns are freed when the chunk is done, which keeps the memory bounded;
    * the workers' statistical profiler is off: it samples the task thread's stack every 10 ms,
      ~7 % of a chunk's processing time, for a dashboard that a batch run does not look at.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.profile.enabled": False,
    }


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
        import dask
        from distributed import Client, LocalCluster

        if scheduler:
            try:
                client = Client(scheduler, timeout=SCHEDULER_CONNECT_TIMEOUT_S)
            except (OSError, ValueError, TypeError) as exc:  # unreachable, malformed
                raise NA64Error(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from exc
            with client:
                _check_workers(client, scheduler)
                n = len(client.scheduler_info().get("workers", {}))
                yield (
                    processor.DaskExecutor(client=client, status=status),
                    {"name": name, "scheduler": scheduler, "workers": n},
                )
        else:
            with (
                _quiet_logger("distributed", logging.ERROR if quiet else logging.WARNING),
                dask.config.set(local_cluster_config()),
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


def _raise_if_corrupt(corrupt: dict[str, list[str]]) -> None:
    """InputFileError for the first file whose chunks held non-finite or absurd values."""
    if not corrupt:
        return
    path = sorted(corrupt)[0]
    problems = sorted(corrupt[path])
    item, _, problem = problems[0].partition(": ")
    others = sum(len(v) for v in corrupt.values()) - 1
    more = f"; {others} more chunk(s) with bad values" if others else ""
    raise InputFileError(path, item, f"{problem}{more}; the run stopped, no output written")


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


# --- checkpoints: resume an interrupted run ---------------------------------------------------
CHECKPOINT_DIR = ".checkpoint"  # default: inside the output folder
_KEY_FILE = "key.json"


@functools.cache
def _code_digest() -> str:
    """sha256 over the source of na64reco and its processors: any code change is a new key."""
    import na64reco
    import na64reco.processors

    h = hashlib.sha256()
    roots = {Path(na64reco.__file__).parent, Path(na64reco.processors.__file__).parent}
    for root in sorted(roots):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it (never half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ChunkCheckpointer(CheckpointerABC):
    """coffea checkpointer: each finished chunk's output saved atomically, reloaded on resume.

    A checkpoint lives at ``<dir>/<key>/<file>/<entrystart>-<entrystop>.pkl.lz4``: ``<key>`` hashes
    everything that decides a chunk's output (cut set, calibration file sha256, code digest,
    na64reco version, blinding, processor), ``<file>`` the input's path and sha256. The payload
    repeats the key and the chunk, and ``load`` returns None (with a warning) for any mismatch or
    unreadable file, so a stale or damaged checkpoint is never used: the chunk is processed
    again. ``save`` runs where the chunk was processed (main process, pool or Dask worker) and
    writes a temporary file then renames it, so a killed run leaves whole checkpoints only.
    """

    def __init__(self, directory: str | Path, key: dict, file_sha256: dict[str, str]):
        self.directory = Path(directory)
        self.key = key
        self.key_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        self.file_sha256 = dict(file_sha256)

    @property
    def root(self) -> Path:
        """The folder of this key's checkpoints."""
        return self.directory / self.key_hash

    def _chunk(self, metadata: Any) -> dict:
        path = metadata["filename"]
        return {
            "path": path,
            "sha256": self.file_sha256.get(path),
            "entrystart": int(metadata["entrystart"]),
            "entrystop": int(metadata["entrystop"]),
        }

    def filepath(self, metadata: Any) -> Path:
        chunk = self._chunk(metadata)
        file_id = hashlib.sha256(f"{chunk['path']}\0{chunk['sha256']}".encode()).hexdigest()
        name = f"{chunk['entrystart']}-{chunk['entrystop']}.pkl.lz4"
        return self.root / file_id[:24] / name

    def prepare(self, resume: bool) -> int:
        """Set up the folder; drop other keys' checkpoints unless resuming (then warn about
        them). Returns the number of stale key folders found."""
        stale = []
        if self.directory.is_dir():
            stale = [
                d
                for d in self.directory.iterdir()
                if d.is_dir() and d.name != self.key_hash and (d / _KEY_FILE).is_file()
            ]
        if resume:
            if stale:
                logger.warning(
                    "ignoring checkpoints in %s made with another cut set, calibration, input "
                    "file, code version or blinding: %s",
                    self.directory,
                    ", ".join(d.name for d in stale),
                )
            if not self.root.is_dir():
                logger.warning(
                    "--resume: no checkpoint of this configuration in %s", self.directory
                )
        else:
            for d in [*stale, self.root]:
                shutil.rmtree(d, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(
            self.root / _KEY_FILE, json.dumps(self.key, indent=1, sort_keys=True).encode()
        )
        return len(stale)

    def load(self, metadata: Any, processor_instance: Any = None) -> Any:
        path = self.filepath(metadata)
        if not path.is_file():
            return None
        try:
            payload = pickle.loads(lz4.frame.decompress(path.read_bytes()))
        except Exception as exc:  # a damaged file: process the chunk again
            logger.warning("checkpoint %s unreadable, chunk processed again: %s", path, exc)
            return None
        if not isinstance(payload, dict) or payload.get("key") != self.key:
            logger.warning("checkpoint %s is from another configuration: not used", path)
            return None
        if payload.get("chunk") != self._chunk(metadata):
            logger.warning("checkpoint %s is for another chunk: not used", path)
            return None
        return payload["output"]

    def save(self, output: Any, metadata: Any, processor_instance: Any = None) -> None:
        path = self.filepath(metadata)
        payload = {"key": self.key, "chunk": self._chunk(metadata), "output": output}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = lz4.frame.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            _atomic_write_bytes(path, data)
        except OSError as exc:  # the run stays correct; only its resume is lost
            logger.warning("cannot write checkpoint %s: %s", path, exc)

    def remove(self) -> None:
        """Remove this key's checkpoints (and the folder, if then empty)."""
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()


def _chunk_metadata(chunk: Any) -> dict:
    return {
        "dataset": chunk.dataset,
        "filename": chunk.filename,
        "treename": chunk.treename,
        "entrystart": chunk.entrystart,
        "entrystop": chunk.entrystop,
    }


def _merge_metrics(metrics: dict, more: list[dict]) -> dict:
    """coffea metrics of processed chunks plus those saved with reused chunks."""
    out = dict(metrics)
    columns = set(out.get("columns", []))
    for m in more:
        for name in ("bytesread", "entries", "processtime"):
            if name in m:
                out[name] = out.get(name, 0) + m[name]
        columns |= set(m.get("columns", []))
    if columns:
        out["columns"] = sorted(columns)
    return out


def _worker_died(exc: BaseException) -> bool:
    """True if ``exc`` (or its cause) is Dask's KilledWorker: a task lost its worker more often
    than the scheduler's ``allowed-failures`` (coffea re-raises it as a RuntimeError)."""
    while exc is not None:
        if type(exc).__name__ == "KilledWorker" or "KilledWorker" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _coffea_metadata(files: list[InputFile], dataset: str) -> dict:
    """coffea's per-file metadata (entries, UUID, cluster boundaries) from the validation, which
    has read them already: the Runner's preprocessing then opens no file again."""
    from coffea.processor.executor import FileMeta

    from na64reco.eventtree.contract import TREE_NAME

    return {
        FileMeta(dataset, f.path, TREE_NAME): {
            "numentries": f.entries,
            "uuid": f.uuid,
            "clusters": list(f.clusters),
        }
        for f in files
        if f.entries > 0 and f.uuid and f.clusters
    }


def chunk_uproot_options(paths: Sequence[str]) -> dict:
    """``uproot.open`` options of the chunks of ``paths`` (also for benchmarks and warm-ups).

    * No array cache: NanoEvents reads each column once, and uproot's per-file cache keeps
      every column of a chunk alive until CPython's next full collection (the file object is in
      a reference cycle with its TTree models): 0.46 GB against 1.55 GB peak RSS over 40 files,
      ~5% faster than the periodic forced collection that bounded it before.
    * Local files are memory-mapped (``MemmapSource``): uproot's default source sends every
      basket request through fsspec's event-loop thread; mapping reads the same columns
      3-17% faster (benchmarks/README.md). URLs keep uproot's default source.
    """
    options: dict = {"array_cache": None}
    if all("://" not in str(p) for p in paths):
        options["handler"] = uproot.MemmapSource
    return options


def _run_processor(
    files: list[InputFile],
    processor_instance: Any,
    executor: Any,
    *,
    dataset: str,
    chunksize: int,
    maxchunks: int | None,
    checkpointer: ChunkCheckpointer | None = None,
    resume: bool = False,
) -> tuple[dict, dict, dict[str, int], dict[str, int]]:
    """(output, metrics, events planned per file, chunks reused/processed).

    With a ``checkpointer`` every processed chunk is saved as it finishes; with ``resume`` the
    chunks already saved are loaded here and only the others are given to the executor.
    """
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
        checkpointer=checkpointer,
        metadata_cache=_coffea_metadata(files, dataset),
    )
    coffea_fileset = {dataset: {"files": {f.path: TREE_NAME for f in files if f.entries > 0}}}
    if not coffea_fileset[dataset]["files"]:
        raise NA64Error("every input file is empty, nothing to run on")
    options = chunk_uproot_options([f.path for f in files])
    chunks = list(runner.preprocess(coffea_fileset, uproot_options=options))
    planned: dict[str, int] = {}
    for chunk in chunks:
        planned[chunk.filename] = planned.get(chunk.filename, 0) + len(chunk)
    reused: list[dict] = []
    todo = chunks
    if checkpointer is not None and resume:
        todo = []
        for chunk in chunks:
            saved = checkpointer.load(_chunk_metadata(chunk))
            if saved is None:
                todo.append(chunk)
            else:
                reused.append(saved)
        logger.info("resuming: %d chunk(s) from checkpoints, %d to process", len(reused), len(todo))
    try:
        out, metrics = (
            runner(todo, processor_instance, uproot_options=options) if todo else (None, {})
        )
    except Exception as exc:
        if _worker_died(exc):
            raise NA64Error(
                f"the run stopped: Dask workers died too often processing a chunk ({exc}); "
                "no output written"
                + (
                    ", finished chunks are checkpointed: run again with --resume"
                    if checkpointer is not None
                    else ""
                )
            ) from exc
        raise
    if reused:
        # the processor's postprocess is the identity: partial outputs add up to the whole
        out = processor.accumulate([s["out"] for s in reused], out)
        metrics = _merge_metrics(metrics, [s.get("metrics", {}) for s in reused])
        metrics["chunks"] = len(chunks)
    return out, metrics, planned, {"chunks_reused": len(reused), "chunks_processed": len(todo)}


WARM_UP_EVENTS = 10  # events a Dask worker processes to load the toolkit before its chunks


def _first_input(fileset_path: str | Path, kinds: Sequence[str]) -> str | None:
    """Path of the manifest's first file of ``kinds`` (None if none; ConfigError if malformed)."""
    fileset = load_fileset(fileset_path, verify_checksums=False)
    return next((e.path for e in fileset.files if e.kind in kinds), None)


def _warm_up(proc: Any, path: str) -> str:
    """Process the first ``WARM_UP_EVENTS`` events of ``path`` and drop the output: imports the
    toolkit and loads the numba kernels from their cache (~2 s) in a fresh worker. Never
    raises: the file is not validated yet, and the run itself reports any problem with it."""
    try:
        from coffea.nanoevents import NanoEventsFactory

        from na64reco.eventtree import NA64Schema
        from na64reco.eventtree.contract import TREE_NAME

        events = NanoEventsFactory.from_root(
            {path: TREE_NAME},
            schemaclass=NA64Schema,
            mode="virtual",
            entry_stop=WARM_UP_EVENTS,
            uproot_options=chunk_uproot_options([path]),
            metadata={"filename": path, "entrystart": 0},
        ).events()
        proc.process(events)
    except Exception as exc:  # a bad first file: the validation names it
        return f"warm-up skipped: {type(exc).__name__}: {exc}"
    return "warm"


def _start_warm_up(exe: Any, proc: Any, path: str | None) -> list:
    """Start ``_warm_up`` once on every worker of a Dask executor (futures; [] otherwise)."""
    client = getattr(exe, "client", None)
    if client is None or path is None:
        return []
    workers = list(client.scheduler_info().get("workers", {}))
    return [
        client.submit(_warm_up, proc, path, workers=[w], allow_other_workers=False, pure=False)
        for w in workers
    ]


def _finish_warm_up(futures: list) -> None:
    """Wait for the warm-up tasks (they ran during the validation); their result is only logged."""
    for future in futures:
        try:
            logger.debug("worker warm-up: %s", future.result())
        except Exception as exc:  # a worker lost meanwhile: the run's own retries handle it
            logger.debug("worker warm-up failed: %s", exc)
        future.release()


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
    checksum_cache: bool = True,
    make_plots: bool = True,
    checkpoint: bool = False,
    resume: bool = False,
    checkpoint_dir: str | Path | None = None,
    hide: Sequence[str | Path] | None = None,
) -> dict:
    """Run ``analysis`` on the ``kinds`` files of a fileset; write outputs to ``out_dir``.

    Returns the summary written to ``summary.json``. See the module docstring for the steps.
    ``checkpoint``: save each finished chunk in ``checkpoint_dir`` (default
    ``out_dir/.checkpoint``); ``resume`` (implies ``checkpoint``): reuse the chunks saved by an
    interrupted run of the same configuration. The checkpoints are removed once the outputs are
    written. ``hide``: other analyses (names or cut-set files) whose signal regions are hidden
    too while blinded, as the same events feed every selection; default (None): every shipped
    analysis other than this one (``ANALYSES``), so that e.g. the dimuon run never shows the
    invisible box; ``()`` hides nothing else. ``checksum_cache``: take a file's verified sha256
    from ``na64reco.checksums``'s cache when the file is unchanged since it was last hashed
    (False: hash every file).
    """
    from na64reco.calibration.io import load_calibration
    from na64reco.outputs import (
        canonical_output,
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
    if unblind:
        hidden: tuple[CutSet, ...] = ()
    elif hide is None:  # the other shipped analyses
        shipped = (load_cutset(ANALYSES[a]) for a in ANALYSES)
        hidden = tuple(c for c in shipped if c.name != cutset.name and c.signal_box)
    else:
        hidden = tuple(c for c in map(resolve_analysis, hide) if c.signal_box)
    calib_path = Path(calibration) if calibration is not None else default_calibration_path()
    calib_db = load_calibration(calib_path)
    proc = SelectionProcessor(cutset, calib_db, unblind=unblind, hidden=hidden)
    first_input = _first_input(fileset_path, kinds)
    with contextlib.ExitStack() as stack:
        exe, desc = stack.enter_context(make_executor(executor, workers, scheduler, quiet))
        # Dask workers import the toolkit and load the compiled kernels while the inputs are
        # validated here, instead of on their first chunk
        warm_up = _start_warm_up(exe, proc, first_input)
        # on an existing cluster the files are checked where the workers are (and in parallel);
        # a LocalCluster's workers share this machine's cores: the client checks them while the
        # workers warm up
        on_workers = executor == "dask" and scheduler is not None
        files, bad = validate_inputs(
            fileset_path,
            kinds,
            calib_db,
            skip_bad_files=skip_bad_files,
            verify_checksums=verify_checksums,
            checksum_cache=checksum_cache,
            map_files=dask_mapper(exe.client) if on_workers else None,
        )
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        previous = out / "summary.json"
        if previous.exists():  # summary.json marks complete outputs: not while this run is going
            logger.info("removing the summary of a previous run in %s", out)
            previous.unlink()
        checkpointer = None
        if checkpoint or resume:
            checkpointer = ChunkCheckpointer(
                Path(checkpoint_dir) if checkpoint_dir is not None else out / CHECKPOINT_DIR,
                key={
                    "processor": "SelectionProcessor",
                    "cutset": cutset.as_dict(),
                    "calibration_sha256": sha256_file(calib_path),
                    "unblind": bool(unblind),
                    "hidden": [c.as_dict() for c in hidden],
                    "na64reco": __version__,
                    "code_sha256": _code_digest(),
                },
                file_sha256={f.path: f.sha256 for f in files},
            )
            checkpointer.prepare(resume)

        blinding = {"blinded": not unblind, "unblinded_at": None, "unblinded_by": None}
        if hidden:
            blinding["also_hidden"] = {c.name: c.signal_box for c in hidden}
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

        logger.info(
            "running %s on %d file(s) (%d events) with the %s executor",
            cutset.name,
            len(files),
            sum(f.entries for f in files),
            executor,
        )
        _finish_warm_up(warm_up)
        t0 = time.perf_counter()
        with progress_output(quiet):
            output, metrics, planned, chunk_counts = _run_processor(
                files,
                proc,
                exe,
                dataset=Path(fileset_path).stem,
                chunksize=chunksize,
                maxchunks=maxchunks,
                checkpointer=checkpointer,
                resume=resume,
            )
        wall = time.perf_counter() - t0
    _raise_if_corrupt(output.get("corrupt", {}))
    output = canonical_output(output)  # category order independent of the merge order
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
        "resume": None
        if checkpointer is None
        else {"resumed": resume, "checkpoint_dir": str(checkpointer.directory), **chunk_counts},
        "provenance": provenance(
            inputs=[
                {"path": f.path, "sha256": f.sha256, "checksum": f.checksum, "events": f.entries}
                for f in files
            ],
            fileset=str(Path(fileset_path).resolve()),
            kinds=list(kinds),
            calibration=calib_info,
            cutset={"name": cutset.name, "version": cutset.version, "source": cutset.source},
            executor=desc,
            validation={
                "where": "dask workers" if on_workers else "client",
                "checksums": {
                    how: sum(f.checksum == how for f in files)
                    for how in sorted({f.checksum for f in files})
                },
                "contract": {
                    how: sum(f.contract == how for f in files)
                    for how in sorted({f.contract for f in files})
                },
            },
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
    write_summary(out / "summary.json", summary)  # last: its presence marks complete outputs
    if checkpointer is not None:
        checkpointer.remove()
    logger.info("wrote %s (%.1f s)", out, wall)
    return summary
