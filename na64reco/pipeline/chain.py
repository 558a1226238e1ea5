"""``na64 analyze``: the whole chain from run files to limits, with reusable stages and a report.

Each stage calls the same function as the command that runs it alone, with the same options:

1. ``calibration``: the given constants file, or constants derived from the fileset's
   calibration and random-trigger runs (``na64 calibrate``: ``na64reco.calib.derive``);
2. ``run-<analysis>`` for every shipped analysis (``na64 run``: ``na64reco.run.run_analysis``)
   over the physics runs, always blinded (so the background is estimated, and frozen, before
   any unblinding; an ``unblind`` run after a blinded one reuses them); every run hides every
   protected region (``na64reco.blinding``); with ``unblind``, ``run-invisible-unblinded``: the
   invisible selection with its box open (recorded in ``OUT/unblinding.jsonl``, the ledger no
   re-run removes), whose box count per period is the observed count given to the limits;
3. ``efficiency``: each analysis's cut set on the signal samples of the models it measures
   (``na64reco.run.run_signal_efficiency``, through the same executor and validation);
4. ``background``: sideband fit, ABCD, MC components, EOT and ``limit_inputs.json``
   (``na64 background``: ``na64reco.background.build_background``);
5. ``limits``: every model's 90% CL expected (observed once unblinded) limits
   (``na64 limit``: ``na64reco.pipeline.limits.limit_document``);
then ``report.html`` (self-contained) and ``results.json`` (``schemas.results``) in OUT, as one
set (``na64reco.run.folder``: the previous report and results are removed when the chain
starts, so a failed chain never leaves an old report beside new stages).

A cut set given for a shipped analysis (``cutsets``) is checked before anything runs: under a
protected analysis' name it must define that analysis' blinded region
(``na64reco.blinding.check_protected_cutset``).

Stages live under ``OUT/stages/<name>`` and re-run only when the hash of their inputs changes
(``na64reco.pipeline.stages``): changing one cut re-runs only what reads that cut set.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from na64reco.analyses import ANALYSES
from na64reco.background.build import CLOSURE_EOT, build_background
from na64reco.blinding.definition import check_protected_cutset, definition_record
from na64reco.blinding.ledger import LEDGER_NAME
from na64reco.calib.derive import calibrate_fileset
from na64reco.calibration.io import write_calibration
from na64reco.checksums import sha256_file, sha256_json
from na64reco.cutsets.config import CutSet
from na64reco.documents import write_json
from na64reco.errors import OptionsError
from na64reco.fileset import Fileset, as_fileset
from na64reco.limit_inputs import LimitInputs, load_limit_inputs, write_limit_inputs
from na64reco.limits.models import MODELS
from na64reco.limits.plots import limit_plot_jobs
from na64reco.pipeline.limits import limit_document, write_limit
from na64reco.pipeline.report import write_analysis_report
from na64reco.pipeline.results import build_results
from na64reco.pipeline.stages import StageResult, StageRunner
from na64reco.plots.parallel import render
from na64reco.run import RunOptions, run_analysis, run_signal_efficiency
from na64reco.run.efficiency import signal_model_of
from na64reco.run.folder import OutputFolder
from na64reco.run.prefetch import compile_ahead, finish_compile_ahead, share_compile_ahead
from na64reco.run.validation import validate_inputs
from na64reco.shipped import sample_fileset_path
from na64reco.systematics.config import load_systematics

logger = logging.getLogger(__name__)

LIMIT_MODELS = tuple(MODELS)
REPORT_NAMES = ("results.json", "report.html")  # the set of the chain's own outputs

__all__ = [
    "LIMIT_MODELS",
    "REPORT_NAMES",
    "AnalyzeOptions",
    "analyze",
    "validate_calibration_inputs",
]


class AnalyzeOptions(BaseModel):
    """The options of the whole chain; each stage's run options are derived from ``run``."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    run: RunOptions = RunOptions()
    calibration: Path | None = Field(None, description="constants to use instead of deriving")
    cutsets: dict[str, CutSet] = Field(
        default_factory=dict, description="cut sets replacing shipped analyses' (by name)"
    )
    unblind: bool = False
    force: bool = False
    n_masses: int = Field(12, ge=1, description="masses per limit curve")
    command: str | None = None

    def cutset(self, analysis: str) -> CutSet:
        return self.cutsets.get(analysis) or ANALYSES[analysis].cutset()


def _open_box(path: Path, observed: dict[str, int], opened: dict) -> None:
    """Unblind limit inputs: the observed box count of every period (0 where no event), and the
    unblinding that opened the box (``opened``: the unblinded run's blinding record)."""
    doc = load_limit_inputs(path).model_dump(mode="json")
    for period in doc["periods"]:
        period["observed"] = int(observed.get(period["period"], 0))
    doc["blinding"] = {
        **doc["blinding"],
        "blinded": False,
        "unblinding": opened["unblinding"],
        "unblinding_ledger": opened["ledger"]["path"],
        "ledger": opened["ledger"]["entries"],
    }
    write_limit_inputs(path, LimitInputs.model_validate({**doc, "blinded": False}))


class _Chain:
    """The stages of one ``analyze`` call (state shared between them)."""

    def __init__(self, fileset: Fileset, out: Path, options: AnalyzeOptions, progress) -> None:
        self.fileset = fileset
        self.out = out
        self.options = options
        self.progress = progress
        self.stages = StageRunner(out / "stages", force=options.force)
        self.files_of: dict[str, list[str]] = {}
        for entry in fileset.files:
            self.files_of.setdefault(entry.kind, []).append(entry.sha256)
        for digests in self.files_of.values():
            digests.sort()

    def report(self, result: StageResult) -> None:
        if self.progress:
            info = {"reused": result.reused, "seconds": result.seconds}
            for key in ("events", "loop_seconds"):
                if key in result.outputs:
                    info[key] = result.outputs[key]
            self.progress(result.name, info)

    def calibration(self) -> StageResult:
        given = self.options.calibration

        def run(folder: Path) -> dict:
            target = folder / "calibration.json"
            if given is not None:
                shutil.copy(given, target)
                source = str(given)
            else:
                validate_calibration_inputs(self.fileset, self.options.run)
                sets = calibrate_fileset(self.fileset, name=f"{self.fileset.name}-derived")
                write_calibration(target, sets, version=1)
                source = "derived from the fileset's calibration and random runs"
            return {"file": str(target), "sha256": sha256_file(target), "source": source}

        inputs = (
            {"file_sha256": sha256_file(given)}
            if given is not None
            else {
                "calibration_runs": self.files_of.get("calibration", []),
                "random_runs": self.files_of.get("random", []),
            }
        )
        result = self.stages.run("calibration", inputs, run)
        self.report(result)
        return result

    def systematics_for(self, cutset: CutSet) -> Path | None:
        """The declared systematics file when it is the one of ``cutset`` (a file applies to
        the cut set it names; the other analyses run without variations)."""
        path = self.options.run.systematics
        if path is None or load_systematics(path).name != cutset.name:
            return None
        return Path(path)

    def selection(self, analysis: str, calib: StageResult, opened: bool) -> StageResult:
        cutset = self.options.cutset(analysis)
        systematics = self.systematics_for(cutset)
        options = self.options.run.model_copy(
            update={
                "calibration": Path(calib.outputs["file"]),
                "unblind": opened,
                "kinds": ("physics",),
                "ledger": self.out / LEDGER_NAME,
                "command": self.options.command,
                "systematics": systematics,
            }
        )

        def run(folder: Path) -> dict:
            summary = run_analysis(self.fileset, cutset, folder, options)
            out = {"summary_sha256": sha256_file(folder / "summary.json")}
            out["events"] = summary.events_processed
            out["loop_seconds"] = summary.metrics.wall_s
            if opened:  # events passing every cut, the box included, per period
                last = cutset.cut_names[-1]
                out["observed"] = {p: f[last] for p, f in summary.cutflow.items()}
            return out

        inputs = {
            "physics": self.files_of.get("physics", []),
            "calibration": calib.outputs["sha256"],
            "cutset": sha256_json(cutset.as_dict()),
            "unblind": opened,
            "blinding": definition_record(),
        }
        if systematics is not None:  # only then: the key of a plain run is unchanged
            inputs["systematics"] = sha256_file(systematics)
        name = f"run-{analysis}" + ("-unblinded" if opened else "")
        result = self.stages.run(name, inputs, run)
        self.report(result)
        return result

    def efficiency(self, calib: StageResult) -> StageResult:
        options = self.options.run.model_copy(update={"calibration": Path(calib.outputs["file"])})
        present = {signal_model_of(e) for e in self.fileset.files if e.kind == "signal"}
        measured = [a for a in ANALYSES.values() if present & set(a.signal_models)]

        def run(folder: Path) -> dict:
            rows, executor = [], None
            for analysis in measured:
                cutset = self.options.cutset(analysis.name)
                result = run_signal_efficiency(
                    self.fileset,
                    cutset,
                    options.model_copy(update={"systematics": self.systematics_for(cutset)}),
                    models=analysis.signal_models,
                )
                rows += result["rows"]
                executor = result["executor"]
            path = folder / "efficiencies.json"
            write_json(path, rows)
            return {"file": str(path), "samples": len(rows), "executor": executor}

        inputs = {
            "signal": self.files_of.get("signal", []),
            "calibration": calib.outputs["sha256"],
            "cutsets": {
                a.name: sha256_json(self.options.cutset(a.name).as_dict()) for a in measured
            },
        }
        if self.options.run.systematics is not None:
            inputs["systematics"] = sha256_file(self.options.run.systematics)
        result = self.stages.run("efficiency", inputs, run)
        self.report(result)
        return result

    def background(
        self, invisible: StageResult, eff: StageResult, opened: StageResult | None
    ) -> StageResult:
        observed = None if opened is None else opened.outputs["observed"]

        def run(folder: Path) -> dict:
            rows = json.loads(Path(eff.outputs["file"]).read_text())
            build_background(
                [invisible.folder],
                folder / "background.json",
                plots_dir=folder / "plots",
                efficiencies=rows,
                limit_inputs=folder / "limit_inputs.json",
                closure_eot=CLOSURE_EOT,
            )
            if opened is not None:
                summary = json.loads((opened.folder / "summary.json").read_text())
                _open_box(folder / "limit_inputs.json", observed, summary["blinding"])
            return {
                "background": str(folder / "background.json"),
                "limit_inputs": str(folder / "limit_inputs.json"),
            }

        inputs = {
            "invisible": invisible.outputs["summary_sha256"],
            "efficiency": sha256_file(eff.outputs["file"]),
            "observed": observed,
        }
        result = self.stages.run("background", inputs, run)
        self.report(result)
        return result

    def limits(self, bkg: StageResult) -> StageResult:
        source = Path(bkg.outputs["limit_inputs"])

        def run(folder: Path) -> dict:
            inputs = load_limit_inputs(source)
            made, plots = {}, []
            for model in LIMIT_MODELS:
                try:
                    doc = limit_document(
                        inputs,
                        model,
                        source=source,
                        n_masses=self.options.n_masses,
                        command=self.options.command,
                    )
                except OptionsError as exc:  # no efficiency table for this model
                    logger.warning("no limit for %s: %s", model, exc)
                    continue
                made[model] = str(write_limit(doc, folder, plots=False)[0])
                plots.extend(limit_plot_jobs(doc, folder))
            render(plots)  # every model's plots, divided between the cores
            return {"limits": made}

        inputs = {"limit_inputs": sha256_file(source), "n_masses": self.options.n_masses}
        result = self.stages.run("limits", inputs, run)
        self.report(result)
        return result


def analyze(
    fileset: Fileset | str | Path | None,
    out_dir: str | Path,
    options: AnalyzeOptions | None = None,
    *,
    progress: Callable[[str, dict], None] | None = None,
) -> dict:
    """Run every stage on ``fileset`` (default: the shipped sample), reusing unchanged ones;
    returns the results document (also written to ``OUT/results.json``)."""
    start = time.perf_counter()
    options = options or AnalyzeOptions()
    for cutset in options.cutsets.values():  # before anything runs
        check_protected_cutset(cutset)
    fileset = as_fileset(fileset if fileset is not None else sample_fileset_path())
    out = Path(out_dir)
    folder = OutputFolder(out, REPORT_NAMES, kind="na64 analyze")
    folder.prepare()  # no old report survives, whatever happens next
    chain = _Chain(fileset, out, options, progress)
    # the event loop's kernels compile in a forked process while the constants are derived
    first_physics = next((e.path for e in fileset.files if e.kind == "physics"), None)
    ahead = compile_ahead(first_physics)
    try:
        calib = chain.calibration()
        share_compile_ahead(ahead)  # the parts the child has not started, then its last
        runs = {a: chain.selection(a, calib, opened=False) for a in ANALYSES}
    finally:
        finish_compile_ahead(ahead)
    opened = chain.selection("invisible", calib, opened=True) if options.unblind else None
    eff = chain.efficiency(calib)
    bkg = chain.background(runs["invisible"], eff, opened)
    chain.limits(bkg)
    staging = folder.staging()
    try:
        results = build_results(
            fileset, out, staging, chain.stages, options, time.perf_counter() - start
        )
        write_analysis_report(staging / "report.html", results, chain.stages)
        folder.commit(staging, last="results.json")
    finally:
        folder.discard(staging)
    if progress:
        progress("report", {"reused": False, "seconds": 0.0})
    return results


def validate_calibration_inputs(fileset: Fileset, options: RunOptions) -> None:
    """The calibration and random-trigger files checked as every run's (sha256, entries, run
    range, period) before constants are derived from them (``na64 calibrate`` too)."""
    validate_inputs(
        fileset,
        ("calibration", "random"),
        None,
        verify_checksums=options.verify_checksums,
        checksum_cache=options.checksum_cache,
    )
