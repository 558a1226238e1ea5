"""Process validated files with a coffea processor: plan chunks, run, resume, account.

``process_files(files, processor, executor, options, ...)`` is the event loop of every stage
that reads events (selections, signal efficiency): ``processor.Runner(schema=NA64Schema,
align_clusters=True, savemetrics=True)`` on the given executor, its metadata cache filled from
the validation (no file opened again to plan the chunks), coffea's own ``skipbadfiles`` off (a
file that fails mid-run is an error, never a silently partial result). With a checkpointer
every processed chunk is saved as it finishes; with ``resume`` the chunks already saved are
loaded and only the others are processed. A Dask worker lost mid-run: the scheduler re-runs
its tasks elsewhere (up to its ``allowed-failures``), else the run stops with an ``NA64Error``.

``account(files, bad, planned, processed, maxchunks)`` then checks, per file, that the events
processed equal the events of its planned chunks and that processed + skipped equal its entries;
events are skipped only for a stated reason (bad file, ``maxchunks``): any mismatch raises
``AccountingError``. ``raise_if_corrupt`` turns the processor's report of chunks with
non-finite or absurd values into an ``InputFileError``.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

from na64reco.errors import AccountingError, InputFileError, NA64Error
from na64reco.eventtree.contract import TREE_NAME
from na64reco.run.checkpoint import ChunkCheckpointer
from na64reco.run.coffea_adapter import chunk_metadata, metadata_cache, utf8_file_hashes
from na64reco.run.executors import chunk_uproot_options
from na64reco.run.options import ExecutorOptions
from na64reco.run.validation import InputFile

logger = logging.getLogger(__name__)

__all__ = ["Processed", "account", "process_files", "raise_if_corrupt"]


@dataclass
class Processed:
    """What the event loop returns."""

    output: dict
    metrics: dict
    planned: dict[str, int]  # events of the planned chunks, per file
    chunks_reused: int = 0
    chunks_processed: int = 0


def _worker_died(exc: BaseException) -> bool:
    """True if ``exc`` (or its cause) is Dask's KilledWorker: a task lost its worker more often
    than the scheduler's ``allowed-failures`` (coffea re-raises it as a RuntimeError)."""
    while exc is not None:
        if type(exc).__name__ == "KilledWorker" or "KilledWorker" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


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


def _datasets(
    files: list[InputFile], dataset: str, preload: list[str] | None = None
) -> tuple[dict, dict, dict]:
    """The coffea datasets of the files: one per input map (its JSON in the dataset's
    metadata, which coffea hands the processor in ``events.metadata``), ``dataset`` for the
    files read by contract names (with ``preload``: the branches coffea reads in one call per
    chunk). Returns (dataset of each path, coffea fileset, the user metadata of each path)."""
    from na64reco.eventtree.nanoevents import INPUT_MAP_KEY

    datasets: dict[str, str] = {}
    coffea_fileset: dict[str, dict] = {}
    user: dict[str, dict] = {}
    for f in files:
        name = dataset if f.input_map is None else f"{dataset}@map-{f.input_map_sha256[:12]}"
        datasets[f.path] = name
        entry = coffea_fileset.setdefault(name, {"files": {}})
        if f.input_map is not None:
            entry["metadata"] = user[f.path] = {INPUT_MAP_KEY: f.input_map}
        elif preload:
            entry["preload"] = preload
        if f.entries > 0:
            entry["files"][f.path] = TREE_NAME
    return datasets, {k: v for k, v in coffea_fileset.items() if v["files"]}, user


def process_files(
    files: list[InputFile],
    processor_instance: Any,
    executor: Any,
    options: ExecutorOptions,
    *,
    dataset: str,
    checkpointer: ChunkCheckpointer | None = None,
    resume: bool = False,
) -> Processed:
    """Run ``processor_instance`` over ``files`` (see the module docstring)."""
    from coffea import processor

    from na64reco.eventtree import NA64Schema

    utf8_file_hashes()  # paths with non-ASCII characters
    preload = list(getattr(processor_instance, "preload", None) or [])
    datasets, coffea_fileset, user = _datasets(files, dataset, preload)
    runner = processor.Runner(
        executor,
        schema=NA64Schema,
        chunksize=options.chunksize,
        maxchunks=options.maxchunks,
        skipbadfiles=False,
        align_clusters=True,
        savemetrics=True,
        checkpointer=checkpointer,
        metadata_cache=metadata_cache(files, datasets, TREE_NAME, user),
    )
    if not any(d["files"] for d in coffea_fileset.values()):
        raise NA64Error("every input file is empty, nothing to run on")
    uproot_options = chunk_uproot_options([f.path for f in files])
    chunks = list(runner.preprocess(coffea_fileset, uproot_options=uproot_options))
    planned: dict[str, int] = {}
    for chunk in chunks:
        planned[chunk.filename] = planned.get(chunk.filename, 0) + len(chunk)
    reused: list[dict] = []
    todo = chunks
    if checkpointer is not None and resume:
        todo = []
        for chunk in chunks:
            saved = checkpointer.load(chunk_metadata(chunk))
            if saved is None:
                todo.append(chunk)
            else:
                reused.append(saved)
        logger.info("resuming: %d chunk(s) from checkpoints, %d to process", len(reused), len(todo))
    # what is alive now (modules, constants, the fileset) lives through the loop: frozen, the
    # garbage collector's full passes during the loop do not walk it again each time (a
    # caller that froze its own heap keeps it as it was)
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        out, metrics = (
            runner(todo, processor_instance, uproot_options=uproot_options) if todo else (None, {})
        )
    except Exception as exc:
        if _worker_died(exc):
            again = ", finished chunks are checkpointed: resume the run" if checkpointer else ""
            raise NA64Error(
                f"the run stopped: Dask workers died too often processing a chunk ({exc}); "
                f"no output written{again}"
            ) from exc
        raise
    finally:
        if freeze:
            gc.unfreeze()
    if reused:
        # the processors' postprocess is the identity: partial outputs add up to the whole
        out = processor.accumulate([s["out"] for s in reused], out)
        metrics = _merge_metrics(metrics, [s.get("metrics", {}) for s in reused])
        metrics["chunks"] = len(chunks)
    return Processed(out, metrics, planned, len(reused), len(todo))


def raise_if_corrupt(corrupt: dict[str, list[str]]) -> None:
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
