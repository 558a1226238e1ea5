"""The results of ``na64 analyze``: ``results.json`` (schema-validated) and ``report.html``.

Both are made from the stage folders only (never by re-running anything): the run summaries,
background document, efficiencies and limit curves, and the PNGs next to them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from na64reco.calibration.io import load_calibration
from na64reco.fileset import load_fileset
from na64reco.provenance import provenance
from na64reco.report import Section, Table, write_report
from na64reco.stages import StageRunner

RESULTS_FORMAT = "na64-results"


class Results(BaseModel):
    """results.json: every section of the report as numbers."""

    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    blinding: dict[str, Any]
    fileset: dict[str, Any]
    stages: list[dict[str, Any]]
    runs: dict[str, dict[str, Any]]
    exposure: dict[str, Any]
    calibration: list[dict[str, Any]]
    background: list[dict[str, Any]]
    efficiencies: list[dict[str, Any]]
    limits: dict[str, dict[str, Any]]
    provenance: dict[str, Any]
    wall_seconds: float


def _read(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def build_results(
    fileset_path: Path,
    out: Path,
    runner: StageRunner,
    executor: dict,
    unblind: bool,
    seconds: float,
) -> dict:
    """Collect the numbers of every stage into one validated document."""
    st = runner.results
    fileset = load_fileset(fileset_path)
    runs = {}
    for name, res in st.items():
        if not name.startswith("run-"):
            continue
        summary = _read(res.folder / "summary.json")
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
        "version": 1,
        "blinding": _blinding(runs, st, unblind),
        "fileset": {
            "path": str(fileset_path),
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
            executor=executor,
        ),
        "wall_seconds": round(seconds, 1),
    }
    Results.model_validate(results)
    return results


def _blinding(runs: dict, stages: dict, unblind: bool) -> dict:
    """The blinded runs' record or, unblinded, the unblind act (time, user) and the observed
    box count per period."""
    if not unblind:
        return {**runs["invisible"]["blinding"], "blinded": True}
    opened = stages["run-invisible-unblinded"]
    return {
        **runs["invisible-unblinded"]["blinding"],
        "blinded": False,
        "observed": opened.outputs["observed"],
    }


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _pngs(folder: Path, pattern: str) -> list[tuple[Path, str]]:
    return [(p, p.stem.replace("_", " ")) for p in sorted(Path(folder).glob(pattern))]


def _all_runs(stages: dict, pattern: str) -> list[tuple[Path, str]]:
    """The plots of every selection run, captioned with the analysis."""
    out = []
    for name, res in stages.items():
        if name.startswith("run-"):
            analysis = name.removeprefix("run-")
            out += [(p, f"{analysis}: {caption}") for p, caption in _pngs(res.folder, pattern)]
    return out


def write_analysis_report(path: Path, results: dict, runner: StageRunner) -> Path:
    st = runner.results
    blinded = results["blinding"]["blinded"]
    banner = (
        '<div class="blinded"><b>Blinded.</b> The signal region is hidden in every table and '
        "plot; the box counts read &mdash;. Unblinding is an explicit option "
        "(<code>--unblind</code>) and is recorded.</div>"
        if blinded
        else '<div class="unblinded"><b>Unblinded</b> (the invisible-search box) at '
        f"{html.escape(str(results['blinding'].get('unblinded_at')))} by "
        f"{html.escape(str(results['blinding'].get('unblinded_by')))}; observed in the box: "
        + html.escape(", ".join(f"{p}: {n}" for p, n in results["blinding"]["observed"].items()))
        + ".</div>"
    )
    sections = [
        Section(
            "summary",
            "Run summary and exposure",
            raw_html=banner,
            text=[
                f"Fileset {results['fileset']['name']}: {results['fileset']['files']} files, "
                f"{results['fileset']['events']} events; analysis wall time "
                f"{results['wall_seconds']} s.",
            ],
            tables=[
                Table(
                    ["period", "beam triggers", "EOT (live)", "stat", "EOT (delivered)"],
                    [
                        [
                            p,
                            e.get("n_beam_trigger"),
                            e.get("eot_live"),
                            e.get("eot_live_stat"),
                            e.get("eot_delivered"),
                        ]
                        for p, e in sorted(results["exposure"].items())
                    ],
                    "EOT from the prescaled unbiased beam trigger",
                ),
                Table(
                    ["stage", "reused", "seconds"],
                    [
                        [s["name"], "yes" if s["reused"] else "no", s["seconds"]]
                        for s in results["stages"]
                    ],
                    "stages (re-run only when their inputs change)",
                ),
            ],
        ),
    ]
    flows = []
    for analysis, run in results["runs"].items():
        for period, flow in sorted(run["cutflow"].items()):
            flows.append(
                Table(["cut", "events"], [[k, v] for k, v in flow.items()], f"{analysis}, {period}")
            )
    sections.append(
        Section("cutflows", "Cutflows", tables=flows, images=_all_runs(st, "cutflow_*.png"))
    )
    sections.append(
        Section("planes", "The (E_ECAL, E_HCAL) plane", images=_all_runs(st, "plane_*.png"))
    )
    sections.append(Section("nminus1", "N-1 distributions", images=_all_runs(st, "nminus1_*.png")))
    sections.append(
        Section(
            "calibration",
            "Calibration",
            tables=[
                Table(
                    [
                        "set",
                        "version",
                        "period",
                        "runs",
                        "flagged ECAL",
                        "HCAL",
                        "SRD",
                        "VETO",
                        "counters",
                    ],
                    [
                        [
                            c["name"],
                            c["version"],
                            c["period"],
                            f"{c['runs'][0]}-{c['runs'][1]}",
                            *c["flagged"].values(),
                        ]
                        for c in results["calibration"]
                    ],
                    "constants used (flagged: dead, noisy or absent channels)",
                )
            ],
        )
    )
    bkg_rows = []
    for p in results["background"]:
        side, abcd, total = p.get("sideband") or {}, p.get("abcd") or {}, p.get("total") or {}
        bkg_rows.append(
            [
                p["period"],
                side.get("n_sideband"),
                side.get("kind"),
                _fmt(side.get("expected")),
                _fmt(side.get("stat")),
                _fmt(side.get("syst")),
                _fmt(abcd.get("expected")),
                _fmt(total.get("expected")),
                _fmt(total.get("stat")),
                _fmt(total.get("syst")),
            ]
        )
    sections.append(
        Section(
            "background",
            "Background in the signal box",
            tables=[
                Table(
                    [
                        "period",
                        "sideband events",
                        "result",
                        "sideband estimate",
                        "stat",
                        "syst",
                        "ABCD",
                        "total",
                        "total stat",
                        "total syst",
                    ],
                    bkg_rows,
                    "expected events in the box; statistical and systematic parts apart",
                )
            ],
            images=_pngs(st["background"].folder / "plots", "*.png"),
            preformatted=Path(st["background"].outputs["background"])
            .with_suffix(".md")
            .read_text(),
        )
    )
    sections.append(
        Section(
            "efficiency",
            "Signal efficiency",
            tables=[
                Table(
                    [
                        "model",
                        "mass [GeV]",
                        "period",
                        "upstream",
                        "downstream",
                        "efficiency",
                        "stat",
                        "syst",
                    ],
                    [
                        [
                            e.get("model"),
                            e.get("mass_gev"),
                            e.get("period"),
                            _fmt(e.get("upstream")),
                            _fmt(e.get("downstream")),
                            _fmt(e.get("efficiency")),
                            _fmt(e.get("efficiency_stat")),
                            _fmt(e.get("efficiency_syst")),
                        ]
                        for e in results["efficiencies"]
                    ],
                    "relative to bosons emitted with E > E0 - E_box",
                )
            ],
        )
    )
    lim_tables = []
    for model, res in results["limits"].items():
        exp = res["coupling"]["expected"]
        obs = res["coupling"].get("observed")
        rows = [
            [
                _fmt(m),
                _fmt(exp["median"][i]),
                _fmt(exp["-1sigma"][i]),
                _fmt(exp["+1sigma"][i]),
                _fmt(obs[i]) if obs else "blinded",
            ]
            for i, m in enumerate(res["masses_gev"])
        ]
        lim_tables.append(
            Table(
                ["mass [GeV]", "expected", "-1 sigma", "+1 sigma", "observed"],
                rows,
                f"{model}: 90% CL upper limit on {res['coupling_name']}",
            )
        )
    sections.append(
        Section("limits", "Limits", tables=lim_tables, images=_pngs(st["limits"].folder, "*.png"))
    )
    sections.append(Section("blinding", "Blinding status", raw_html=banner))
    sections.append(
        Section(
            "provenance", "Provenance", preformatted=json.dumps(results["provenance"], indent=2)
        )
    )
    return write_report(
        path,
        "NA64 analysis report",
        sections,
        subtitle=f"na64reco {results['provenance']['versions']['na64reco']}",
    )


__all__ = ["RESULTS_FORMAT", "Results", "build_results", "write_analysis_report"]
