"""``run_analysis``: one selection over the physics files of a fileset, to a folder of outputs.

The steps, in order (each a function of this package):

1. resolve the cut set and the regions hidden while blinded (``hidden_regions``), load the
   calibration and build the selection processor;
2. start the executor (``run.executors``); Dask workers warm up while the client validates
   the inputs (``run.validation``: contract, sha256, entries, runs, calibration coverage);
3. prepare the output folder (a previous ``summary.json`` is removed first: a folder with one
   holds complete outputs) and the chunk checkpoints (``run.checkpoint``);
4. run the event loop (``run.engine.process_files``) and account for every event;
5. write the histograms (ROOT and pickle), the sideband event list, the plots and, last,
   ``summary.json`` (``schemas.summary.RunSummary``); then remove the checkpoints.

Blinding is done by the processor at the source (``na64reco.cutsets.evaluate``); here an
``unblind`` run is recorded (time, user) in the summary and in a WARNING log line.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from na64reco import __version__
from na64reco.analyses import ANALYSES, resolve_cutset
from na64reco.calibration.io import load_calibration
from na64reco.checksums import code_digest, sha256_file
from na64reco.cutsets.config import CutSet
from na64reco.documents import dumps_json
from na64reco.fileset import Fileset, as_fileset
from na64reco.processors.selection import SelectionProcessor
from na64reco.provenance import provenance, utc_now
from na64reco.run.checkpoint import CHECKPOINT_DIR, ChunkCheckpointer
from na64reco.run.coffea_adapter import quiet_progress
from na64reco.run.engine import account, process_files, raise_if_corrupt
from na64reco.run.executors import finish_warm_up, make_executor, start_warm_up
from na64reco.run.options import RunOptions
from na64reco.run.outputs import (
    canonical_output,
    flat_histograms,
    report_cutflow,
    sideband_table,
    write_pickle,
    write_root,
    write_sideband_csv,
    write_summary,
)
from na64reco.run.validation import InputFile, dask_mapper, validate_inputs
from na64reco.schemas.summary import RunSummary
from na64reco.shipped import calibration_path

logger = logging.getLogger(__name__)

__all__ = ["calibration_record", "hidden_regions", "run_analysis"]


def hidden_regions(cutset: CutSet, options: RunOptions) -> tuple[CutSet, ...]:
    """The cut sets whose signal regions a blinded run hides besides its own: ``options.hide``,
    or by default every shipped analysis other than this one (the same events feed every
    selection, so e.g. the dimuon run must never show the invisible box)."""
    if options.unblind:
        return ()
    if options.hide is None:
        shipped = (a.cutset() for a in ANALYSES.values())
        return tuple(c for c in shipped if c.name != cutset.name and c.signal_box)
    return tuple(c for c in options.hide if c.signal_box)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return os.environ.get("USER", "unknown")


def _blinding(cutset: CutSet, hidden: tuple[CutSet, ...], unblind: bool) -> dict:
    blinding: dict[str, Any] = {"blinded": not unblind, "unblinded_at": None, "unblinded_by": None}
    if hidden:
        blinding["also_hidden"] = {c.name: c.signal_box for c in hidden}
    if unblind:
        blinding["unblinded_at"] = utc_now()
        blinding["unblinded_by"] = _user_name()
        logger.warning(
            "UNBLINDING: cut set %s v%d run with the signal region %s visible, by %s at %s",
            cutset.name,
            cutset.version,
            " & ".join(cutset.signal_box) or "(none)",
            blinding["unblinded_by"],
            blinding["unblinded_at"],
        )
    return blinding


def _prepare_output(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "summary.json"
    if previous.exists():  # summary.json marks complete outputs: not while this run is going
        logger.info("removing the summary of a previous run in %s", out)
        previous.unlink()


def _checkpointer(
    out: Path,
    options: RunOptions,
    cutset: CutSet,
    hidden: tuple[CutSet, ...],
    calibration_sha256: str,
    files: list[InputFile],
) -> ChunkCheckpointer | None:
    if not (options.checkpoint or options.resume):
        return None
    checkpointer = ChunkCheckpointer(
        options.checkpoint_dir if options.checkpoint_dir is not None else out / CHECKPOINT_DIR,
        key={
            "processor": "SelectionProcessor",
            "cutset": cutset.as_dict(),
            "calibration_sha256": calibration_sha256,
            "unblind": options.unblind,
            "hidden": [c.as_dict() for c in hidden],
            "na64reco": __version__,
            "code_sha256": code_digest(),
        },
        file_sha256={f.path: f.sha256 for f in files},
    )
    checkpointer.prepare(options.resume)
    return checkpointer


def calibration_record(path: Path, calibration) -> dict:
    """The calibration as provenance: file, sha256 and its sets."""
    return {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "sets": [
            {
                "name": c.name,
                "version": c.version,
                "period": c.period,
                "run_min": c.run_min,
                "run_max": c.run_max,
            }
            for c in calibration.sets
        ],
    }


def _validation_record(files: list[InputFile], on_workers: bool) -> dict:
    def tally(attr: str) -> dict[str, int]:
        values = [getattr(f, attr) for f in files]
        return {how: values.count(how) for how in sorted(set(values))}

    return {
        "where": "dask workers" if on_workers else "client",
        "checksums": tally("checksum"),
        "contract": tally("contract"),
    }


def _make_plots(histograms: dict, summary: dict, out_dir: Path, which: str) -> str:
    """The PNG plots (secondary: a failure is logged and recorded, the outputs stand)."""
    plotting = importlib.import_module("na64reco.plots")
    try:
        written = plotting.make_plots(histograms, summary, out_dir, which=which)
    except Exception as exc:  # plots are secondary: the analysis outputs are already written
        logger.error("plotting failed (outputs are complete): %s: %s", type(exc).__name__, exc)
        return f"failed: {type(exc).__name__}: {exc}"
    return f"made {len(written)}"


def run_analysis(
    fileset: Fileset | str | Path,
    analysis: str | Path | CutSet,
    out_dir: str | Path,
    options: RunOptions | None = None,
    **overrides,
) -> RunSummary:
    """Run ``analysis`` (a shipped analysis name, a cut-set file or a CutSet) on the files of
    ``options.kinds`` of ``fileset`` (a Fileset or a manifest path) and write its outputs to
    ``out_dir``. ``options`` and/or keyword overrides (``executor="dask", workers=4,
    unblind=True, ...``: the fields of ``RunOptions`` and ``ExecutorOptions``). Returns the
    summary written to ``summary.json``."""
    options = RunOptions.build(options, **overrides)
    fileset = as_fileset(fileset)
    cutset = resolve_cutset(analysis)
    hidden = hidden_regions(cutset, options)
    calib_path = Path(options.calibration) if options.calibration else calibration_path()
    calibration = load_calibration(calib_path)
    calib_info = calibration_record(calib_path, calibration)
    proc = SelectionProcessor(cutset, calibration, unblind=options.unblind, hidden=hidden)
    execution = options.execution
    out = Path(out_dir)
    first_input = next((e.path for e in fileset.files if e.kind in options.kinds), None)
    with contextlib.ExitStack() as stack:
        exe, executor_desc = stack.enter_context(make_executor(execution))
        warm_up = start_warm_up(exe, proc, first_input)
        # on an existing cluster the files are checked where the workers are (and in parallel);
        # a LocalCluster's workers share this machine's cores: the client checks them while the
        # workers warm up
        on_workers = execution.executor == "dask" and execution.scheduler is not None
        files, bad = validate_inputs(
            fileset,
            options.kinds,
            calibration,
            skip_bad_files=options.skip_bad_files,
            verify_checksums=options.verify_checksums,
            checksum_cache=options.checksum_cache,
            map_files=dask_mapper(exe.client) if on_workers else None,
        )
        _prepare_output(out)
        checkpointer = _checkpointer(out, options, cutset, hidden, calib_info["sha256"], files)
        blinding = _blinding(cutset, hidden, options.unblind)
        logger.info(
            "running %s on %d file(s) (%d events) with the %s executor",
            cutset.name,
            len(files),
            sum(f.entries for f in files),
            execution.executor,
        )
        finish_warm_up(warm_up)
        t0 = time.perf_counter()
        with quiet_progress(execution.quiet):
            result = process_files(
                files,
                proc,
                exe,
                execution,
                dataset=fileset.name,
                checkpointer=checkpointer,
                resume=options.resume,
            )
        wall = time.perf_counter() - t0
    output = result.output
    raise_if_corrupt(output.get("corrupt", {}))
    output = canonical_output(output)  # category order independent of the merge order
    accounting = account(files, bad, result.planned, output["files"], execution.maxchunks)

    histograms = flat_histograms(output)
    write_root(out / "histograms.root", histograms)
    write_pickle(out / "histograms.pkl", output)
    rows = sideband_table(output["sideband_events"])
    write_sideband_csv(out / "sideband_events.csv", rows)
    cutflow = report_cutflow(output["cutflow"], cutset, options.unblind)
    summary = {
        "analysis": cutset.name if not isinstance(analysis, str | Path) else str(analysis),
        "cutset": cutset.as_dict(),
        "blinding": blinding,
        "cutflow": cutflow,
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
        "metrics": {**result.metrics, "wall_s": round(wall, 3)},
        "resume": None
        if checkpointer is None
        else {
            "resumed": options.resume,
            "checkpoint_dir": str(checkpointer.directory),
            "chunks_reused": result.chunks_reused,
            "chunks_processed": result.chunks_processed,
        },
        "provenance": provenance(
            inputs=[
                {"path": f.path, "sha256": f.sha256, "checksum": f.checksum, "events": f.entries}
                for f in files
            ],
            fileset=fileset.source,
            kinds=list(options.kinds),
            calibration=calib_info,
            cutset={"name": cutset.name, "version": cutset.version, "source": cutset.source},
            executor=executor_desc,
            validation=_validation_record(files, on_workers),
            chunksize=execution.chunksize,
            maxchunks=execution.maxchunks,
            unblind=options.unblind,
        ),
    }
    if options.make_plots:
        plot_input = {"plane": output["plane"], "nminus1": output["nminus1"], "cutflow": cutflow}
        summary["plots"] = _make_plots(plot_input, summary, out, options.plots)
    run_summary = RunSummary.model_validate(_plain(summary))
    write_summary(out / "summary.json", run_summary)  # last: its presence marks complete outputs
    if checkpointer is not None:
        checkpointer.remove()
    logger.info("wrote %s (%.1f s)", out, wall)
    return run_summary


def _plain(value: Any) -> Any:
    """JSON-safe copy (coffea's metrics hold sets and numpy scalars)."""
    return json.loads(dumps_json(value, indent=None))
