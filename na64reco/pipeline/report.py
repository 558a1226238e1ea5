"""``report.html`` of ``na64 analyze``: a first screen with the summary, then folded sections.

The first screen holds what a physicist reads first: the inputs and the exposure per period,
what is blinded, the cutflow of every analysis in one table, the background estimate and the
limit plot. The sections below (cutflows, planes, N-1, calibration, background, efficiency,
limits, systematics, blinding, provenance) fold open. The systematics section holds, per
period, the named nuisances of the limit inputs (limit_inputs v2: source, background, signal
and EOT factors up/down) and the ranking plots of their impacts on N_up. Made from
``results.json``'s numbers and the PNGs in the stage folders only (never by re-running
anything); self-contained (``na64reco.pipeline.html``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from na64reco.pipeline.html import Card, Section, Table, write_report
from na64reco.pipeline.stages import StageRunner

FIRST_LIMIT = "limit_aprime.png"  # the limit plot of the first screen

__all__ = ["write_analysis_report"]


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


def _banner(blinding: dict) -> str:
    if blinding["blinded"]:
        regions = ", ".join(blinding.get("regions_hidden") or [])
        which = f" ({html.escape(regions)})" if regions else ""
        return (
            f'<div class="blinded"><b>Blinded.</b> The signal regions{which} are hidden in every '
            "table and plot; the box counts read &mdash;. Unblinding is an explicit option "
            "(<code>--unblind</code>) and is recorded.</div>"
        )
    observed = ", ".join(f"{p}: {n}" for p, n in blinding["observed"].items())
    return (
        '<div class="unblinded"><b>Unblinded</b> (the invisible-search box) at '
        f"{html.escape(str(blinding.get('unblinded_at')))} by "
        f"{html.escape(str(blinding.get('unblinded_by')))}; observed in the box: "
        f"{html.escape(observed)}.</div>"
    )


def _cutflow_summary(results: dict) -> Table:
    """One row per analysis and period: all events, the last cut with a visible count and that
    count, and the events selected by every cut ("blinded" while in a hidden region)."""
    rows = []
    for analysis, run in results["runs"].items():
        for period, flow in sorted(run["cutflow"].items()):
            values = list(flow.items())
            last_cut, last_n = [(cut, n) for cut, n in values if n is not None][-1]
            final = values[-1][1]
            rows.append(
                [analysis, period, flow.get("all"), last_cut, last_n,
                 "blinded" if final is None else final]
            )  # fmt: skip
    return Table(
        ["analysis", "period", "events", "last visible cut", "after it", "selected"],
        rows,
        "every analysis at a glance (full cutflows below)",
    )


def _sideband_kind(sideband: dict) -> str:
    """How the sideband part was estimated: a fit, or (too few events) the 90% CL upper
    bound that the stat column then carries."""
    if sideband.get("kind") == "upper_bound":
        return f"too few events: < {_fmt(sideband.get('upper_90'))} at 90% CL (as stat)"
    return "fit" if sideband else "-"


def _first_screen(results: dict, limits_folder: Path) -> list[Card]:
    fileset = results["fileset"]
    exposure = Table(
        ["period", "beam triggers", "EOT (live)", "EOT stat"],
        [
            [p, e.get("n_beam_trigger"), e.get("eot_live"), e.get("eot_live_stat")]
            for p, e in sorted(results["exposure"].items())
        ],
    )
    background = Table(
        ["period", "expected in the box", "stat", "syst", "sideband"],
        [
            [
                p["period"],
                _fmt(p["total"]["expected"]),
                _fmt(p["total"]["stat"]),
                _fmt(p["total"]["syst"]),
                _sideband_kind(p.get("sideband") or {}),
            ]
            for p in results["background"]
        ],
        "sideband fit (an upper bound when too few events) + MC components",
    )
    limit_png = limits_folder / FIRST_LIMIT
    inputs = Card(
        "Inputs, exposure and background",
        tables=[exposure, background],
        text=[
            f"{fileset['name']}: {fileset['files']} files, {fileset['events']:,} events; "
            f"this analysis took {results['wall_seconds']} s (reused stages included at 0 s)."
        ],
    )
    cards = [inputs, Card("Cutflows", tables=[_cutflow_summary(results)])]
    if limit_png.is_file():
        cards.insert(1, Card("A' limit (90% CL)", images=[(limit_png, "A' 90% CL limit")]))
    return cards


def _full_cutflows(results: dict) -> list[Table]:
    tables = []
    for analysis, run in results["runs"].items():
        periods = sorted(run["cutflow"])
        cuts = list(dict.fromkeys(c for p in periods for c in run["cutflow"][p]))
        rows = [[cut, *(run["cutflow"][p].get(cut) for p in periods)] for cut in cuts]
        tables.append(Table(["cut", *periods], rows, f"{analysis}: events after each cut"))
    return tables


def _factor(up, down) -> str:
    return "-" if up is None else f"{_fmt(up)} / {_fmt(down)}"


def _systematics_section(results: dict, limits_folder: Path) -> Section:
    """The named nuisances per period (from the first limit document that lists them) and the
    ranking plots of every model."""
    rows = next(
        (res["systematics"] for res in results["limits"].values() if res.get("systematics")), []
    )
    tables = []
    for period in dict.fromkeys(r["period"] for r in rows):
        tables.append(
            Table(
                [
                    "nuisance",
                    "source",
                    "background up / down",
                    "signal up / down",
                    "models",
                    "EOT up / down",
                    "description",
                ],
                [
                    [
                        r["name"],
                        r["source"],
                        _factor(r["background_up"], r["background_down"]),
                        "-" if r["signal_up"] is None else f"{r['signal_up']} / {r['signal_down']}",
                        ", ".join(r["signal_models"]) or "-",
                        _factor(r["eot_up"], r["eot_down"]),
                        r["description"],
                    ]
                    for r in rows
                    if r["period"] == period
                ],
                f"{period}: factors yield(variation) / yield(nominal) at +1 / -1 sigma "
                "(signal: range over masses)",
            )
        )
    text = (
        ["Named nuisance parameters of the limit inputs: one parameter per name, correlated "
         "between the periods that list it (pyhf normsys, interpolation code 1). The ranking "
         "shows the change of N_up with each one fixed at +1 / -1 sigma."]
        if rows
        else ["No named nuisances in the limit inputs: the limits use the flat uncertainties "
              "(background stat and syst, efficiency syst, EOT) only."]
    )  # fmt: skip
    return Section(
        "systematics",
        "Systematic uncertainties",
        text=text,
        tables=tables,
        images=_pngs(limits_folder, "ranking_*.png"),
    )


def _blinding_section(blinding: dict, banner: str) -> Section:
    """The banner, the definition and regions, and every entry of the unblinding ledger."""
    entries = blinding["ledger"]["entries"]
    definition = blinding["definition"]
    return Section(
        "blinding",
        "Blinding status",
        raw_html=banner,
        text=[
            f"Blinding definition v{definition['version']} (sha256 {definition['sha256']}); "
            f"regions hidden: {', '.join(blinding['regions_hidden']) or 'none'}; opened: "
            f"{', '.join(blinding['regions_opened']) or 'none'}; evaluated with the constants "
            f"{blinding['calibration']['file']} (sha256 {blinding['calibration']['sha256']}).",
            f"Unblinding ledger {blinding['ledger']['path']}: {len(entries)} entr"
            + ("y" if len(entries) == 1 else "ies")
            + " (append-only; no re-run removes one).",
        ],
        tables=[
            Table(
                ["time", "user", "host", "regions", "analysis", "configuration sha256"],
                [
                    [
                        e["time"],
                        e["user"],
                        e["host"],
                        ", ".join(e["regions"]) or "-",
                        e["analysis"],
                        e["configuration_sha256"],
                    ]
                    for e in entries
                ],
                "every unblinding recorded next to these outputs",
            )
        ]
        if entries
        else [],
    )


def write_analysis_report(path: Path, results: dict, runner: StageRunner) -> Path:
    st = runner.results
    banner = _banner(results["blinding"])
    stage_table = Table(
        ["stage", "reused", "seconds"],
        [[s["name"], "yes" if s["reused"] else "no", s["seconds"]] for s in results["stages"]],
        "stages (re-run only when their inputs change)",
    )
    sections = [
        Section(
            "summary",
            "Run summary and exposure",
            tables=[
                Table(
                    ["period", "beam triggers", "EOT (live)", "EOT stat", "EOT (delivered)"],
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
                stage_table,
            ],
        ),
        Section(
            "cutflows",
            "Cutflows",
            tables=_full_cutflows(results),
            images=_all_runs(st, "cutflow_*.png"),
        ),
        Section("planes", "The (E_ECAL, E_HCAL) plane", images=_all_runs(st, "plane_*.png")),
    ]
    n1 = _all_runs(st, "nminus1_*.png")
    sections.append(
        Section(
            "nminus1",
            "N-1 distributions",
            images=n1,
            text=[] if n1 else ["Not made by default: run a stage with --plots all for them."],
        )
    )
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
    limit_plots = [
        (png, caption)
        for png, caption in _pngs(st["limits"].folder, "*.png")
        if png.name != FIRST_LIMIT  # on the first screen
        and not png.name.startswith("ranking_")  # in the systematics section
    ]
    sections.append(Section("limits", "Limits", tables=lim_tables, images=limit_plots))
    sections.append(_systematics_section(results, st["limits"].folder))
    sections.append(_blinding_section(results["blinding"], banner))
    sections.append(
        Section(
            "provenance", "Provenance", preformatted=json.dumps(results["provenance"], indent=2)
        )
    )
    prov = results["provenance"]
    subtitle = (
        f"na64reco {prov['versions']['na64reco']}, commit "
        f"{(prov['source'].get('commit') or 'unknown')[:12]}; made {prov['created']}"
    )
    return write_report(
        path,
        "NA64 analysis report",
        _first_screen(results, st["limits"].folder),
        sections,
        subtitle=subtitle,
        banner=banner,
    )
