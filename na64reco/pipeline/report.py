"""``report.html`` of ``na64 analyze``: every section of the results with the stages' plots.

Made from ``results.json``'s numbers and the PNGs in the stage folders only (never by re-running
anything); self-contained (``na64reco.pipeline.html``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from na64reco.pipeline.html import Section, Table, write_report
from na64reco.pipeline.stages import StageRunner


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


__all__ = ["write_analysis_report"]
