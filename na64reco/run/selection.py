"""``run_analysis``: one selection over the physics files of a fileset, to a folder of outputs.

The steps, in order (each a function of this package):

1. resolve the cut set (refused if it claims a protected analysis' name without its blinded
   region, ``na64reco.blinding.check_protected_cutset``), load the calibration (gains checked
   against the nominal ones, ``na64reco.calibration.sanity``) and the blinding constants, and
   build the selection processor;
2. prepare the output folder (``run.folder``: the previous set of outputs is removed, foreign
   files refused), start the executor (``run.executors``); Dask workers warm up while the
   client validates the inputs (``run.validation``: contract, sha256, entries, runs, periods,
   duplicate events, calibration coverage); the cut set must cover every period of the data;
3. prepare the chunk checkpoints (``run.checkpoint``); an ``unblind`` run appends its entry to
   the unblinding ledger (``na64reco.blinding.ledger``) before any event is read;
4. run the event loop (``run.engine.process_files``) and account for every event;
5. write the histograms (ROOT and JSON), the sideband event list, the skims (``--skim``,
   ``run.skim``), the plots and, last,
   ``summary.json`` (``schemas.summary.RunSummary``, with the blinding record and the ledger's
   entries) into a staging folder, moved in whole; then remove the checkpoints.

Blinding is done by the processor at the source: every protected region is hidden, evaluated
with the blinding definition's constants, and so is the cut set's own box; ``unblind`` opens
the cut set's box and the protected region of its name only, and is recorded (ledger, summary,
WARNING log line).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from na64reco import __version__
from na64reco.analyses import resolve_cutset
from na64reco.blinding.definition import (
    blinding_set,
    check_protected_cutset,
    definition_record,
    load_blinding_calibration,
)
from na64reco.blinding.ledger import LEDGER_NAME, Ledger, LedgerEntry, host_name, user_name
from na64reco.calibration.io import load_calibration
from na64reco.calibration.sanity import check_gains
from na64reco.checksums import code_digest, sha256_file, sha256_json
from na64reco.conditions import period_of_run
from na64reco.cutsets.config import CutSet, check_periods_covered
from na64reco.documents import dumps_json
from na64reco.errors import OptionsError
from na64reco.fileset import Fileset, as_fileset
from na64reco.processors.selection import SelectionProcessor
from na64reco.provenance import provenance, utc_now
from na64reco.run.checkpoint import CHECKPOINT_DIR, ChunkCheckpointer
from na64reco.run.coffea_adapter import quiet_progress
from na64reco.run.engine import account, process_files, raise_if_corrupt
from na64reco.run.executors import finish_warm_up, make_executor, start_warm_up
from na64reco.run.folder import OutputFolder
from na64reco.run.options import RunOptions
from na64reco.run.outputs import (
    canonical_output,
    flat_histograms,
    report_cutflow,
    sideband_table,
    write_histograms,
    write_root,
    write_sideband_csv,
    write_summary,
)
from na64reco.run.skim import write_skims
from na64reco.run.validation import InputFile, ValueScreen, dask_mapper, validate_inputs
from na64reco.run.variations_output import (
    VARIATIONS_NAME,
    cutflow_histograms,
    variation_histograms,
    variations_document,
    write_variations,
)
from na64reco.schemas.summary import RunSummary
from na64reco.shipped import calibration_path
from na64reco.systematics.config import load_systematics

logger = logging.getLogger(__name__)

#: the outputs of a run with fixed names (the plots are added to the set as they are made)
OUTPUT_NAMES = (
    "summary.json",
    "histograms.root",
    "histograms.json",
    "sideband_events.csv",
    VARIATIONS_NAME,
)

__all__ = ["OUTPUT_NAMES", "calibration_record", "run_analysis"]


def check_blinding_coverage(files: list[InputFile], blinding_calibration) -> None:
    """Every run of the data can be blinded: the blinding constants cover it."""
    for f in files:
        for run in f.runs:
            blinding_set(blinding_calibration, run)


def data_periods(files: list[InputFile]) -> dict[str, str]:
    """The run periods of the files' runs: {period: a file holding it}."""
    out: dict[str, str] = {}
    for f in files:
        for run in f.runs:
            out.setdefault(period_of_run(run).name, f.path)
    return out


def _unblinding(
    ledger: Ledger,
    out: Path,
    options: RunOptions,
    cutset: CutSet,
    proc: SelectionProcessor,
    calibration_sha256: str,
    files: list[InputFile],
    fileset: Fileset,
) -> LedgerEntry:
    """Append this run's unblinding to the ledger (before any event is read) and log it."""
    configuration = {
        "cutset": {"name": cutset.name, "version": cutset.version, "source": cutset.source},
        "cutset_sha256": sha256_json(cutset.as_dict()),
        "calibration_sha256": calibration_sha256,
        "blinding_definition": definition_record(),
        "fileset": fileset.source,
        "inputs_sha256": sha256_json(sorted(f.sha256 for f in files)),
        "code_sha256": code_digest(),
        "na64reco": __version__,
    }
    entry = ledger.append(
        time=utc_now(),
        user=user_name(),
        host=host_name(),
        regions=list(proc.opened),
        signal_box=list(cutset.signal_box),
        analysis=cutset.name,
        configuration_sha256=sha256_json(configuration),
        configuration=configuration,
        output=str(out.resolve()),
        command=options.command,
    )
    logger.warning(
        "UNBLINDING: cut set %s v%d run with the signal region %s visible (protected regions "
        "opened: %s), by %s at %s; recorded in %s",
        cutset.name,
        cutset.version,
        " & ".join(cutset.signal_box) or "(none)",
        ", ".join(proc.opened) or "none",
        entry.user,
        entry.time,
        ledger.path,
    )
    return entry


def _blinding(
    cutset: CutSet,
    proc: SelectionProcessor,
    calibration: dict,
    entry: LedgerEntry | None,
    ledger: Ledger,
) -> dict:
    return {
        "blinded": not proc.unblind,
        "definition": definition_record(),
        "calibration": calibration,
        "regions_hidden": list(proc.hidden_regions),
        "regions_opened": list(proc.opened),
        "signal_box_hidden": [] if proc.unblind else list(cutset.signal_box),
        "unblinded_at": entry.time if entry else None,
        "unblinded_by": entry.user if entry else None,
        "unblinding": entry.model_dump(mode="json") if entry else None,
        "ledger": {
            "path": str(ledger.path.resolve()),
            "entries": [e.model_dump(mode="json") for e in ledger.entries()],
        },
    }


def _checkpointer(
    out: Path,
    options: RunOptions,
    cutset: CutSet,
    calibration_sha256: str,
    files: list[InputFile],
    systematics=None,
) -> ChunkCheckpointer | None:
    if not (options.checkpoint or options.resume):
        return None
    key = {
        "processor": "SelectionProcessor",
        "cutset": cutset.as_dict(),
        "calibration_sha256": calibration_sha256,
        "unblind": options.unblind,
        "skim": options.skim,
        "blinding": definition_record(),
        "na64reco": __version__,
        "code_sha256": code_digest(),
    }
    if systematics is not None:  # only then: the key of a plain run is unchanged
        key["systematics"] = systematics.model_dump(mode="json", exclude={"source"})
    checkpointer = ChunkCheckpointer(
        options.checkpoint_dir if options.checkpoint_dir is not None else out / CHECKPOINT_DIR,
        key=key,
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
    check_protected_cutset(cutset)
    calib_path = Path(options.calibration) if options.calibration else calibration_path()
    calibration = load_calibration(calib_path)
    flags = check_gains(calibration, options.gain_tolerance)
    blinding_calibration, blinding_calibration_record = load_blinding_calibration()
    calib_info = calibration_record(calib_path, calibration)
    systematics = (
        load_systematics(options.systematics, cutset) if options.systematics is not None else None
    )
    try:
        proc = SelectionProcessor(
            cutset,
            calibration,
            unblind=options.unblind,
            blinding_calibration=blinding_calibration,
            skim_stage=options.skim,
            systematics=systematics,
        )
    except ValueError as exc:
        raise OptionsError("skim", str(exc)) from None
    execution = options.execution
    out = Path(out_dir)
    folder = OutputFolder(out, OUTPUT_NAMES)
    ledger = Ledger(options.ledger if options.ledger is not None else out / LEDGER_NAME)
    first_input = next((e.path for e in fileset.files if e.kind in options.kinds), None)
    folder.prepare()  # the configuration is accepted: no previous output survives from here on
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
            screen=ValueScreen(calibration) if options.skip_bad_files else None,
        )
        check_blinding_coverage(files, blinding_calibration)
        check_periods_covered(cutset, data_periods(files))
        checkpointer = _checkpointer(
            out, options, cutset, calib_info["sha256"], files, proc.systematics
        )
        entry = None
        if options.unblind:
            entry = _unblinding(
                ledger, out, options, cutset, proc, calib_info["sha256"], files, fileset
            )
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
    flags += saturation_flags(output.get("saturated", {}))

    histograms = flat_histograms(output)
    rows = sideband_table(output["sideband_events"])
    cutflow = report_cutflow(output["cutflow"], cutset, options.unblind)
    cutflow_hists = cutflow_histograms(cutflow)
    variations = output.get("variations")
    var_hists = variation_histograms(variations) if variations is not None else {}
    summary = {
        "analysis": cutset.name if not isinstance(analysis, str | Path) else str(analysis),
        "cutset": cutset.as_dict(),
        "blinding": _blinding(cutset, proc, blinding_calibration_record, entry, ledger),
        "cutflow": cutflow,
        "accounting": accounting,
        "bad_files": bad,
        "skipped": [r for r in accounting if r["skipped"]],
        "flags": flags,
        "sideband_events": len(rows),
        "outputs": {
            "histograms_root": "histograms.root",
            "histograms_json": "histograms.json",
            "sideband_events": "sideband_events.csv",
            "histograms": sorted(histograms),
            "cutflow_histograms": sorted(cutflow_hists),
            "variations": VARIATIONS_NAME if variations is not None else None,
            "variation_histograms": sorted(var_hists),
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
            inputs=[_input_record(f) for f in files],
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
    staging = folder.staging()
    try:
        write_root(staging / "histograms.root", {**histograms, **cutflow_hists, **var_hists})
        if variations is not None:
            doc = variations_document(variations, cutset, options.unblind, proc.systematics)
            write_variations(staging / VARIATIONS_NAME, doc)
        write_histograms(staging / "histograms.json", output)
        write_sideband_csv(staging / "sideband_events.csv", rows)
        if options.skim is not None:
            summary["outputs"]["skims"] = write_skims(
                staging,
                files,
                output.get("skim", {}),
                processed={r["path"]: r["processed"] for r in accounting},
                eot={e.path: e.eot for e in fileset.files},
                stage=options.skim,
                cutset=cutset,
                blinding=summary["blinding"],
                target_mb=options.skim_target_mb,
            )
        if options.make_plots:
            plot_input = {
                "plane": output["plane"],
                "nminus1": output["nminus1"],
                "cutflow": cutflow,
            }
            if variations is not None:
                plot_input["variations"] = variations
            summary["plots"] = _make_plots(plot_input, summary, staging, options.plots)
        run_summary = RunSummary.model_validate(_plain(summary))
        write_summary(staging / "summary.json", run_summary)
        folder.commit(staging, last="summary.json")  # summary.json last: it marks complete outputs
    finally:
        folder.discard(staging)
    if checkpointer is not None:
        checkpointer.remove()
    logger.info("wrote %s (%.1f s)", out, wall)
    return run_summary


def _input_record(f: InputFile) -> dict:
    record = {"path": f.path, "sha256": f.sha256, "checksum": f.checksum, "events": f.entries}
    imap = f.load_input_map()
    if imap is not None:
        record["input_map"] = imap.record()
    return record


def saturation_flags(saturated: dict[str, dict[str, int]]) -> list[dict]:
    """One flag per file with readings at the digitisers' saturation code (valid values,
    recorded: the energy of such a channel is a lower bound)."""
    out = []
    for path in sorted(saturated):
        counts = ", ".join(f"{b} {n}" for b, n in sorted(saturated[path].items()))
        out.append(
            {
                "item": path,
                "problem": f"readings at the saturation code (ADC 4095), per branch: {counts}",
            }
        )
    return out


def _plain(value: Any) -> Any:
    """JSON-safe copy (coffea's metrics hold sets and numpy scalars)."""
    return json.loads(dumps_json(value, indent=None))
