"""``results.json`` of ``na64 analyze``: the numbers of every stage in one validated document.

Made from the stage folders only (never by re-running anything): the run summaries, the
background document, the efficiencies, the calibration and the limit documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from na64reco.blinding.ledger import LEDGER_NAME, Ledger
from na64reco.blinding.record import check_record
from na64reco.calibration.io import load_calibration
from na64reco.documents import write_json
from na64reco.fileset import Fileset
from na64reco.pipeline.stages import StageRunner
from na64reco.provenance import provenance
from na64reco.schemas.results import RESULTS_FORMAT, RESULTS_VERSION, AnalysisResults

__all__ = ["build_results"]


def _read(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _blinding(runs: dict, stages: dict, unblind: bool, ledger: Ledger) -> dict:
    """The blinded runs' record or, unblinded, the unblind act (time, user) and the observed
    box count per period; with every entry of the chain's ledger as it is now."""
    now = {"path": str(ledger.path.resolve()), "entries": ledger.entries()}
    if not unblind:
        return {**runs["invisible"]["blinding"], "blinded": True, "ledger": now}
    opened = stages["run-invisible-unblinded"]
    return {
        **runs["invisible-unblinded"]["blinding"],
        "blinded": False,
        "observed": opened.outputs["observed"],
        "ledger": now,
    }


def build_results(
    fileset: Fileset, out: Path, target: Path, runner: StageRunner, options: Any, seconds: float
) -> dict:
    """Collect the numbers of every stage (``options``: the AnalyzeOptions of the chain) of the
    chain in ``out`` and write them to ``target/results.json``; returns the document. Every
    run's blinding record is checked against its ledger on the way (a reused unblinded stage
    whose ledger entry is gone is an error)."""
    st = runner.results
    runs = {}
    for name, res in st.items():
        if not name.startswith("run-"):
            continue
        summary = _read(res.folder / "summary.json")
        check_record(summary["blinding"], res.folder / "summary.json")
        runs[name.removeprefix("run-")] = {
            "folder": str(res.folder),
            "cutflow": summary["cutflow"],
            "events": sum(r["processed"] for r in summary["accounting"]),
            "cutset": {"name": summary["cutset"]["name"], "version": summary["cutset"]["version"]},
            "blinding": summary["blinding"],
        }
    background = _read(st["background"].outputs["background"])
    exposure = {p["period"]: p["eot"] for p in background["periods"]}
    calib = load_calibration(st["calibration"].outputs["file"])
    calibration = [
        {
            "name": s.name,
            "version": s.version,
            "period": s.period,
            "runs": [s.run_min, s.run_max],
            "flagged": {
                det: int((s.detector(det).status != 0).sum())
                for det in ("ecal", "hcal", "srd", "veto", "counter")
            },
        }
        for s in calib.sets
    ]
    limits = {model: _read(path) for model, path in st["limits"].outputs.get("limits", {}).items()}
    seeds = sorted({(f.generator or {}).get("seed") for f in fileset.files} - {None})
    results = {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "blinding": _blinding(runs, st, options.unblind, Ledger(out / LEDGER_NAME)),
        "fileset": {
            "path": fileset.source,
            "name": fileset.name,
            "files": len(fileset.files),
            "events": fileset.total_events,
            "eot": fileset.total_eot,
        },
        "stages": [
            {
                "name": r.name,
                "reused": r.reused,
                "seconds": round(r.seconds, 2),
                "folder": str(r.folder),
            }
            for r in st.values()
        ],
        "runs": runs,
        "exposure": exposure,
        "calibration": calibration,
        "background": background["periods"],
        "efficiencies": _read(st["efficiency"].outputs["file"]),
        "limits": limits,
        "provenance": provenance(
            inputs=[
                {"path": f.path, "sha256": f.sha256, "events": f.events, "kind": f.kind}
                for f in fileset.files
            ],
            calibration={
                "file": st["calibration"].outputs["file"],
                "sha256": st["calibration"].outputs["sha256"],
                "source": st["calibration"].outputs["source"],
            },
            cutsets={k: v["cutset"] for k, v in runs.items()},
            seeds=seeds,
            executor=options.run.execution.model_dump(),
            command=options.command,
        ),
        "wall_seconds": round(seconds, 1),
    }
    doc = AnalysisResults.model_validate(results).model_dump(mode="json")
    write_json(target / "results.json", doc)
    return doc
