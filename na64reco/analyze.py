"""``na64 analyze``: the whole chain from run files to limits, with reusable stages and a report.

Stages (each under ``OUT/stages/<name>``, re-run only when its inputs change, see
``na64reco.stages``):

1. ``calibration``: the given constants file, or constants derived from the fileset's
   calibration and random-trigger runs (``na64reco.calib.derive``);
2. ``run-invisible``, ``run-dimuon``, ``run-phi``: the blinded selections
   (``na64reco.execution.run_analysis``) over the physics runs, always blinded (so the
   background is estimated, and frozen, before any unblinding; an ``--unblind`` run after a
   blinded one reuses them); each hides the signal regions of the others as well as its own
   (the invisible box is in the dimuon and phi runs' early stages, the phi box in the others);
   with ``unblind``, ``run-invisible-unblinded``: the invisible selection with its box open
   (the recorded unblind act), whose box count per period is the observed count given to the
   limits;
3. ``efficiency``: the invisible cut set on the signal samples (``na64reco.efficiency``);
4. ``background``: sideband fit, ABCD, MC components, EOT from beam triggers and
   ``limit_inputs.json`` (``na64reco.background``);
5. ``limits``: the 90% CL expected (observed once unblinded) limits of every model
   (``na64reco.limits.scan``);
then ``report.html`` (self-contained) and ``results.json`` (schema-validated) in OUT.

Changing one cut value changes only the hash of the stages that read that cut set (its run,
the efficiency, background and limits), so only those run again.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from na64reco.fileset import load_fileset
from na64reco.stages import StageRunner, canonical_hash, file_hash

logger = logging.getLogger(__name__)

ANALYSES = ("invisible", "dimuon", "phi")
LIMIT_MODELS = (
    "aprime",
    "vector",
    "scalar",
    "pseudoscalar",
    "axial",
    "zprime",
    "zprime_dark",
    "phi",
)
MASSES_PER_MODEL = 12
# Models without a signal sample of their own use the A' efficiencies (paper 000: the
# efficiency depends weakly on the boson type); the phi search has its own samples.
EFFICIENCY_PROXY = {
    "vector": "aprime",
    "scalar": "aprime",
    "pseudoscalar": "aprime",
    "axial": "aprime",
    "zprime": "aprime",
    "zprime_dark": "aprime",
}


def default_fileset() -> Path:
    return Path(str(resources.files("na64reco.data_samples") / "fileset.json"))


def _cutset_source(name: str, overrides: dict[str, str]) -> Path:
    if name in overrides:
        return Path(overrides[name])
    return Path(str(resources.files("na64reco.selections") / f"{name}.toml"))


def analyze(
    fileset_path: str | Path | None,
    out_dir: str | Path,
    *,
    executor: str = "iterative",
    workers: int = 2,
    scheduler: str | None = None,
    chunksize: int = 100_000,
    calibration: str | Path | None = None,
    cutsets: dict[str, str] | None = None,
    unblind: bool = False,
    quiet: bool = False,
    force: bool = False,
    progress: Callable[[str, dict], None] | None = None,
) -> dict:
    """Run every stage (reusing unchanged ones); returns the results document."""
    from na64reco.limit_inputs import load_limit_inputs

    start = time.perf_counter()
    fileset_path = Path(fileset_path) if fileset_path else default_fileset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fileset = load_fileset(fileset_path)
    overrides = dict(cutsets or {})
    runner = StageRunner(out / "stages", force=force)
    by_kind = {}
    for entry in fileset.files:
        by_kind.setdefault(entry.kind, []).append(entry)
    files_of = {k: sorted(e.sha256 for e in v) for k, v in by_kind.items()}
    exec_options = {
        "executor": executor,
        "workers": workers,
        "scheduler": scheduler,
        "chunksize": chunksize,
    }

    def report(stage: str, info: dict) -> None:
        if progress:
            progress(stage, info)

    # 1. calibration -----------------------------------------------------------------------
    def do_calibration(folder: Path) -> dict:
        target = folder / "calibration.json"
        if calibration is not None:
            shutil.copy(calibration, target)
            source = str(calibration)
        else:
            from na64reco.calib.derive import calibrate_fileset
            from na64reco.calibration.io import write_calibration

            sets = calibrate_fileset(fileset_path, name=f"{fileset.name}-derived", version=1)
            write_calibration(target, sets, version=1)
            source = "derived from the fileset's calibration and random runs"
        return {"file": str(target), "sha256": file_hash(target), "source": source}

    calib_inputs = (
        {"file_sha256": file_hash(calibration)}
        if calibration is not None
        else {
            "calibration_runs": files_of.get("calibration", []),
            "random_runs": files_of.get("random", []),
        }
    )
    cal = runner.run("calibration", calib_inputs, do_calibration)
    report("calibration", {"reused": cal.reused, "seconds": cal.seconds})
    calib_file = Path(cal.outputs["file"])

    # 2. selections --------------------------------------------------------------------------
    runs = {}
    for analysis in ANALYSES + (("invisible-unblinded",) if unblind else ()):
        opened = analysis == "invisible-unblinded"
        cut_file = _cutset_source(analysis.removesuffix("-unblinded"), overrides)
        # blinded, every run hides the other analyses' signal regions too: the same events
        # feed every selection, so no run may show another's box
        others = [_cutset_source(a, overrides) for a in ANALYSES if a != analysis and not opened]

        def do_run(folder: Path, cut_file=cut_file, others=others, opened=opened) -> dict:
            from na64reco.cutsets import load_cutset
            from na64reco.execution import run_analysis

            summary = run_analysis(
                fileset_path,
                str(cut_file),
                folder,
                calibration=calib_file,
                unblind=opened,
                quiet=True,
                hide=others,
                **exec_options,
            )
            out = {
                "summary_sha256": file_hash(folder / "summary.json"),
                "events": sum(r["processed"] for r in summary["accounting"]),
            }
            if opened:  # events passing every cut, the box included, per period
                last = load_cutset(cut_file).cut_names[-1]
                out["observed"] = {p: f[last] for p, f in summary["cutflow"].items()}
            return out

        inputs = {
            "physics": files_of.get("physics", []),
            "calibration": cal.outputs["sha256"],
            "cutset": canonical_hash(cut_file.read_text()),
            "unblind": opened,
            "hidden": [_signal_box_hash(f) for f in others],
        }
        res = runner.run(f"run-{analysis}", inputs, do_run)
        runs[analysis] = res
        report(
            f"run-{analysis}",
            {"reused": res.reused, "seconds": res.seconds, "events": res.outputs.get("events", 0)},
        )
    observed = runs["invisible-unblinded"].outputs["observed"] if unblind else None

    # 3. signal efficiency -----------------------------------------------------------------
    invisible_cuts = _cutset_source("invisible", overrides)
    phi_cuts = _cutset_source("phi", overrides)

    def do_efficiency(folder: Path) -> dict:
        from na64reco.calibration.io import load_calibration
        from na64reco.cutsets import load_cutset
        from na64reco.efficiency import factorised_efficiencies, run_signal_efficiency
        from na64reco.execution import progress_output

        db = load_calibration(calib_file)
        rows = []
        signal = by_kind.get("signal", [])
        is_phi = [(e.generator or {}).get("signal_model") == "phi" for e in signal]
        for cut_file, want_phi in ((invisible_cuts, False), (phi_cuts, True)):
            paths = [e.path for e, phi in zip(signal, is_phi, strict=True) if phi == want_phi]
            if paths:
                cutset = load_cutset(cut_file)
                with progress_output(True):
                    out = run_signal_efficiency(paths, cutset, db)
                rows += factorised_efficiencies(out, cutset)
        (folder / "efficiencies.json").write_text(json.dumps(rows, indent=2, default=float))
        return {"file": str(folder / "efficiencies.json"), "samples": len(rows)}

    eff = runner.run(
        "efficiency",
        {
            "signal": files_of.get("signal", []),
            "calibration": cal.outputs["sha256"],
            "invisible": canonical_hash(invisible_cuts.read_text()),
            "phi": canonical_hash(phi_cuts.read_text()),
        },
        do_efficiency,
    )
    report("efficiency", {"reused": eff.reused, "seconds": eff.seconds})

    # 4. background and limit inputs --------------------------------------------------------
    def do_background(folder: Path) -> dict:
        from na64reco.background import build_background
        from na64reco.background.build import write_inputs

        doc = build_background(
            [runs["invisible"].folder],
            folder / "background.json",
            plots_dir=folder / "plots",
            closure=True,
            closure_eot=2e9,
        )
        doc["efficiencies"] = json.loads(Path(eff.outputs["file"]).read_text())
        write_inputs(folder / "limit_inputs.json", doc)
        if observed is not None:
            _open_box(folder / "limit_inputs.json", observed)
        return {
            "background": str(folder / "background.json"),
            "limit_inputs": str(folder / "limit_inputs.json"),
        }

    bkg = runner.run(
        "background",
        {
            "invisible": runs["invisible"].outputs["summary_sha256"],
            "efficiency": file_hash(eff.outputs["file"]),
            "observed": observed,
        },
        do_background,
    )
    report("background", {"reused": bkg.reused, "seconds": bkg.seconds})

    # 5. limits ------------------------------------------------------------------------------
    def do_limits(folder: Path) -> dict:
        from na64reco.limits.plots import make_limit_plots
        from na64reco.limits.scan import scan

        inputs = with_proxy_efficiencies(load_limit_inputs(bkg.outputs["limit_inputs"]))
        made = {}
        for model in LIMIT_MODELS:
            masses = model_masses(inputs, model)
            if masses is None:
                logger.warning("no efficiency table for %s: no limit", model)
                continue
            result = scan(inputs, model, masses)
            path = folder / f"limit_{model}.json"
            path.write_text(json.dumps(result, indent=2, default=_json))
            make_limit_plots(result, folder)
            made[model] = str(path)
        return {"limits": made}

    lim = runner.run("limits", {"limit_inputs": file_hash(bkg.outputs["limit_inputs"])}, do_limits)
    report("limits", {"reused": lim.reused, "seconds": lim.seconds})

    # 6. report ------------------------------------------------------------------------------
    from na64reco.analysis_report import build_results, write_analysis_report

    results = build_results(
        fileset_path, out, runner, exec_options, unblind, time.perf_counter() - start
    )
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_json) + "\n")
    write_analysis_report(out / "report.html", results, runner)
    report("report", {"reused": False, "seconds": 0.0})
    return results


def _open_box(path: Path, observed: dict[str, int]) -> None:
    """Unblind limit inputs: the observed box count of every period (0 where no event)."""
    from na64reco.limit_inputs import LimitInputs, load_limit_inputs, write_limit_inputs

    doc = load_limit_inputs(path).model_dump(mode="json")
    for period in doc["periods"]:
        period["observed"] = int(observed.get(period["period"], 0))
    write_limit_inputs(path, LimitInputs.model_validate({**doc, "blinded": False}))


def _signal_box_hash(cut_file: Path) -> str:
    """Hash of a cut set's signal-region definition (its other cuts do not matter to a run
    that only hides that region)."""
    from na64reco.cutsets import load_cutset

    cutset = load_cutset(cut_file)
    box = [c.model_dump(mode="json") for c in cutset.cuts if c.name in cutset.signal_box]
    return canonical_hash({"signal_box": cutset.signal_box, "cuts": box})


def with_proxy_efficiencies(inputs):
    """Give models without their own efficiency table the table of their proxy (documented)."""
    periods = []
    for p in inputs.periods:
        tables = {t.model: t for t in p.efficiencies}
        for model, proxy in EFFICIENCY_PROXY.items():
            if model not in tables and proxy in tables:
                tables[model] = tables[proxy].model_copy(update={"model": model})
        periods.append(p.model_copy(update={"efficiencies": list(tables.values())}))
    return inputs.model_copy(update={"periods": periods})


def model_masses(inputs, model: str) -> np.ndarray | None:
    """A log-spaced grid inside the mass range of the model's efficiency tables."""
    ranges = [
        (min(t.masses_gev), max(t.masses_gev))
        for p in inputs.periods
        for t in p.efficiencies
        if t.model == model
    ]
    if not ranges:
        return None
    lo = max(r[0] for r in ranges)
    hi = min(r[1] for r in ranges)
    if hi <= lo:
        return np.array([lo])
    return np.geomspace(lo, hi, MASSES_PER_MODEL)


def _json(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(type(x).__name__)


__all__ = ["ANALYSES", "LIMIT_MODELS", "analyze", "default_fileset"]
