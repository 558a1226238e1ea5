"""The background-and-normalisation stage: blinded run outputs -> background.json, limit inputs.

``build_background(run_dirs, out, ...)`` reads each ``na64 run --analysis invisible`` output
(``summary.json``, ``histograms.json``, ``sideband_events.csv``: data formats, nothing read back
executes), checks they can be combined (the protected invisible cut set; no input file or run in
two outputs; blinded, with a blinding record that matches the current definition and its ledger,
``na64reco.blinding.check_record``), and per run period computes:

* the sideband extrapolation (``sideband.sideband_estimate``; primary method) with its plot,
  fitted on ``sideband.default_fit_range``: from the box edge to the trigger threshold less three
  ECAL resolutions there (recorded as ``fit_range_gev`` with the rule and the threshold);
* the ABCD estimate with the closure factor from a truth-level simulated plane (``abcd``);
* the MC-based components from ``na64reco.sim.validation.expected_box_background`` at the
  period's delivered EOT, *without* the upstream interactions (that is what the sideband
  measures: counting it twice is avoided); assigned a 50% systematic [choose];
* the exposure from the beam trigger (``exposure``); optionally the signal efficiencies (rows
  of ``na64reco.run.run_signal_efficiency``, carried into the limit inputs) and the dimuon ratio.

The total background of a period = sideband estimate + MC components (stat: sideband stat;
syst: sideband syst and the MC systematics in quadrature). It never reads the box content: the
inputs are blinded outputs and only the sideband (E_ECAL above the box) and the A, C, D regions
are used.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import hist
import numpy as np

from na64reco.background.abcd import abcd_prediction, closure_factor, region_counts
from na64reco.background.exposure import dimuon_ratio, eot_from_beam_trigger, run_output_eot
from na64reco.background.sideband import (
    FIT_RANGE_RULE,
    default_fit_range,
    plot_sideband,
    sideband_estimate,
)
from na64reco.background.variations import (
    add_nuisances,
    declared_systematics,
    nuisance_field,
    period_variations,
    without_absent_variations,
)
from na64reco.blinding.definition import check_protected_cutset, definition_record
from na64reco.blinding.record import check_record
from na64reco.checksums import sha256_file
from na64reco.conditions import get_period
from na64reco.cutsets.config import CutSet
from na64reco.documents import plain, read_document, write_json, write_text
from na64reco.errors import ConfigError, NA64Error
from na64reco.limit_inputs import (
    Background,
    Box,
    EfficiencyTable,
    LimitInputs,
    Measurement,
    PeriodInputs,
    write_limit_inputs,
)
from na64reco.provenance import provenance
from na64reco.run.outputs import read_histograms
from na64reco.run.variations_output import VARIATIONS_NAME, read_variations
from na64reco.schemas.background import BACKGROUND_FORMAT, BACKGROUND_VERSION, BackgroundDocument
from na64reco.schemas.summary import SUMMARY_FORMAT, SUMMARY_VERSION, RunSummary
from na64reco.sim.validation import expected_box_background

MC_SYST_REL = 0.5
BOX_LOW_GEV = 0.0
# EOT of the truth-level sample that gives the ABCD closure factor: the one default of
# ``na64 background`` and ``na64 analyze`` [choose: 2e9 EOT puts ~1e2 weighted events in each
# region at the simulated upstream enhancement; its statistical error is in closure_err]
CLOSURE_EOT = 2e9


@dataclass
class RunOutput:
    """One ``na64 run`` output folder, loaded."""

    dir: str
    summary: RunSummary
    summary_sha256: str
    plane: hist.Hist
    sideband: list[dict]
    variations: dict | None = None  # variations.json, when the run declared variations

    @property
    def cutset(self) -> CutSet:
        return CutSet.model_validate(self.summary.cutset)


def load_run_output(run_dir: str | Path) -> RunOutput:
    """summary.json (validated), histograms.json and the sideband events of one run output."""
    d = Path(run_dir)
    files = {n: d / n for n in ("summary.json", "histograms.json", "sideband_events.csv")}
    for name, path in files.items():
        if not path.is_file():
            raise ConfigError(path, "(file)", f"missing: {d} is not a complete run output ({name})")
    summary = read_document(
        files["summary.json"],
        RunSummary,
        format_name=SUMMARY_FORMAT,
        versions=(SUMMARY_VERSION,),
    )
    hists = read_histograms(files["histograms.json"])
    with open(files["sideband_events.csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return RunOutput(
        dir=str(d),
        summary=summary,
        summary_sha256=sha256_file(files["summary.json"]),
        plane=hists["plane"],
        sideband=rows,
        variations=read_variations(d / VARIATIONS_NAME),
    )


def check_combinable(outputs: list[RunOutput], analysis: str | None = "invisible") -> None:
    """Same cut set, blinded, no input file / run counted twice: else ConfigError."""
    first = outputs[0]
    for o in outputs:
        path = Path(o.dir) / "summary.json"
        if analysis and o.cutset.name != analysis:
            raise ConfigError(path, "cutset.name", f"is {o.cutset.name!r}, expected {analysis!r}")
        try:  # the box edges the background needs are those of the protected region
            check_protected_cutset(o.cutset.model_copy(update={"source": str(path)}))
        except ConfigError as exc:
            raise ConfigError(path, f"cutset.{exc.key}", exc.problem) from None
        check_record(o.summary.blinding, path, blinded=True)
        if o.summary.cutset != first.summary.cutset:
            raise ConfigError(
                path,
                "cutset",
                f"differs from that of {first.dir} ({o.cutset.name} v{o.cutset.version}"
                f" vs {first.cutset.name} v{first.cutset.version}): outputs with different "
                "cut sets cannot be combined",
            )
        if not o.summary.blinding.blinded:
            raise ConfigError(
                path,
                "blinding",
                "unblinded output: the background stage works on blinded outputs only",
            )
    seen: dict[str, str] = {}
    for o in outputs:
        for inp in o.summary.provenance.inputs:
            for key in (inp.sha256, str(Path(inp.path).resolve())):
                if key in seen and seen[key] != o.dir:
                    raise ConfigError(
                        Path(o.dir) / "summary.json",
                        "provenance.inputs",
                        f"input {inp.path} is also in {seen[key]}: overlapping inputs "
                        "(the same run counted twice)",
                    )
                seen[key] = o.dir
    runs: dict[int, str] = {}
    for o in outputs:
        for r in {int(row["run"]) for row in o.sideband}:
            if r in runs and runs[r] != o.dir:
                raise ConfigError(
                    Path(o.dir) / "sideband_events.csv",
                    "run",
                    f"run {r} is also in {runs[r]}: the same run counted twice",
                )
            runs[r] = o.dir


def _stage_before_box(cutset: CutSet) -> str:
    names = cutset.cut_names
    first = min(names.index(c) for c in cutset.signal_box)
    if first == 0:
        raise NA64Error(f"cut set {cutset.name}: no cut before the signal region")
    return names[first - 1]


def period_background(
    period: str,
    outputs: list[RunOutput],
    eot: dict,
    *,
    plots_dir: Path | None,
    closure: bool = True,
    closure_eot: float = CLOSURE_EOT,
    systematics=None,
) -> dict:
    """Sideband fit, ABCD and MC components of one period (see the module docstring); with
    ``systematics``, the background of each variation (``background.variations``)."""
    cutset = outputs[0].cutset
    p = get_period(period)
    box_hi = cutset.box_upper_edge("ecal_e", period)
    hcal_zero = cutset.box_upper_edge("hcal_e", period)
    box = (BOX_LOW_GEV, box_hi)
    ecal = np.array(
        [
            float(r["ecal_e"])
            for o in outputs
            for r in o.sideband
            if r["period"] == period and float(r["hcal_e"]) < hcal_zero
        ],
        dtype=float,
    )
    fit_range = default_fit_range(box_hi, p.trigger.ecal_max_gev)
    source = ", ".join(str(Path(o.dir) / "sideband_events.csv") for o in outputs)
    sb = sideband_estimate(ecal, box, fit_range, source=f"{source} (period {period})")
    sb["trigger_max_gev"] = float(p.trigger.ecal_max_gev)
    sb["fit_range_rule"] = FIT_RANGE_RULE
    sb["n_above_fit_range"] = int(np.count_nonzero(ecal >= fit_range[1]))
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        png = plots_dir / f"sideband_{period}.png"
        plot_sideband(sb, ecal, png, title=f"{period}:")
        sb["plot"] = str(png)

    # ABCD from the plane at the stage before the signal region
    stage = _stage_before_box(cutset)
    counts = None
    for o in outputs:
        if period not in o.plane.axes["period"]:  # growing axis: no event of this period
            continue
        h = o.plane[{"period": period, "stage": stage}]
        v = h.values(flow=True)
        counts = v if counts is None else counts + v
        edges_e, edges_h = h.axes[0].edges, h.axes[1].edges
    reg = region_counts(edges_e, edges_h, counts, box_hi, hcal_zero)
    clo = closure_factor(period, box_hi, hcal_zero, eot=closure_eot) if closure else None
    k = clo["k"] if clo and clo.get("k") is not None else 1.0
    k_err = clo["k_err"] if clo and clo.get("k_err") is not None else 1.0
    abcd = {
        "stage": stage,
        **reg,
        **abcd_prediction(reg["A"], reg["C"], reg["D"], k, k_err),
        "closure_source": clo or "none computed: k = 1 +- 1",
    }

    mc = expected_box_background(period, eot["eot_delivered"])
    components = {
        name: {"value": float(v), "stat": 0.0, "syst": MC_SYST_REL * float(v)}
        for name, v in mc.items()
        if name not in ("total", "upstream_interaction")
    }
    mc_sum = sum(c["value"] for c in components.values())
    mc_syst = float(np.sqrt(sum(c["syst"] ** 2 for c in components.values())))
    total = {
        "expected": sb["expected"] + mc_sum,
        "stat": sb["stat"],
        "syst": float(np.hypot(sb["syst"], mc_syst)),
        "method": "sideband-fit"
        + (" (upper bound)" if sb["kind"] == "upper_bound" else "")
        + " + MC components",
    }
    result = {
        "period": period,
        "box_gev": list(box),
        "hcal_zero_gev": hcal_zero,
        "eot": eot,
        "sideband": sb,
        "abcd": abcd,
        "mc_components": {
            "values": components,
            "note": "expected_box_background at the delivered"
            " EOT; upstream_interaction left out (measured by the sideband)",
            "truth_upstream_interaction": float(mc["upstream_interaction"]),
        },
        "total": total,
    }
    if systematics is not None:
        result["variations"] = period_variations(
            period, outputs, systematics, result, BOX_LOW_GEV, fit_range
        )
    return result


def markdown_table(periods: list[dict]) -> str:
    lines = [
        "| period | EOT live | fit range [GeV] | sideband events | sideband fit (box) | stat "
        "| syst (spread) | ABCD | MC (other) | total |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in periods:
        sb, ab, t = r["sideband"], r["abcd"], r["total"]
        mc = sum(c["value"] for c in r["mc_components"]["values"].values())
        sbtxt = f"{sb['expected']:.3g}" if sb["kind"] == "fit" else f"< {sb['upper_90']:.3g}"
        spread = (
            f"{sb['syst']:.2g} [{sb['low']:.2g}, {sb['high']:.2g}]" if sb["kind"] == "fit" else "-"
        )
        abtxt = (
            f"{ab['expected']:.3g} +- {ab['stat']:.2g} +- {ab['syst']:.2g}"
            if ab.get("expected") is not None
            else "undefined"
        )
        lines.append(
            f"| {r['period']} | {r['eot']['eot_live']:.3g} | "
            f"{sb['fit_range_gev'][0]:g}-{sb['fit_range_gev'][1]:g} | "
            f"{sb['n_sideband']} | {sbtxt} | "
            f"{sb['stat']:.2g} | {spread} | {abtxt} | {mc:.2g} | "
            f"{t['expected']:.3g} +- {t['stat']:.2g} (stat) +- {t['syst']:.2g} (syst) |"
        )
    return "\n".join(lines) + "\n"


def build_background(
    run_dirs: list[str | Path],
    out: str | Path,
    *,
    plots_dir: str | Path | None = None,
    efficiencies: list[dict] | None = None,
    limit_inputs: str | Path | None = None,
    dimuon_dir: str | Path | None = None,
    dimuon_reference: str | Path | None = None,
    closure: bool = True,
    closure_eot: float = CLOSURE_EOT,
    verify_checksums: bool = True,
) -> dict:
    """Everything of the module docstring; writes ``out`` (JSON) and ``out`` with ``.md``.

    ``efficiencies``: the signal-efficiency rows (``na64reco.run.run_signal_efficiency``) to
    carry into the document and into ``limit_inputs`` (which needs them)."""
    if not run_dirs:
        raise NA64Error("no run output given")
    if limit_inputs is not None and not efficiencies:
        raise NA64Error("limit inputs need the signal efficiencies: none were given")
    if dimuon_dir is not None and dimuon_reference is None:
        raise NA64Error(
            "the dimuon cross-check needs a reference: the dimuon output of a simulated sample"
        )
    outputs = [load_run_output(d) for d in run_dirs]
    check_combinable(outputs)
    systematics = declared_systematics(outputs)
    out = Path(out)
    plots = Path(plots_dir) if plots_dir is not None else out.parent / "background_plots"

    eot_n: dict[str, int] = {}
    for o in outputs:
        for period, e in run_output_eot(o.summary, verify_checksums).items():
            eot_n[period] = eot_n.get(period, 0) + e["n_beam_trigger"]
    periods_seen = sorted({r["period"] for o in outputs for r in o.sideband} | set(eot_n))
    results = []
    for period in periods_seen:
        if period not in eot_n:
            raise NA64Error(f"period {period}: no beam-trigger event in the inputs: no EOT")
        eot = eot_from_beam_trigger(period, eot_n[period])
        results.append(
            period_background(
                period,
                outputs,
                eot,
                plots_dir=plots,
                closure=closure,
                closure_eot=closure_eot,
                systematics=systematics,
            )
        )
    dimuon = None
    if dimuon_dir is not None:
        dimuon = dimuon_crosscheck(dimuon_dir, dimuon_reference, verify_checksums)

    blinding = {
        "blinded": True,
        "definition": definition_record(),
        "ledger": _ledger_entries(outputs),
    }
    prov = provenance(
        run_outputs=[
            {
                "dir": o.dir,
                "summary_sha256": o.summary_sha256,
                "cutset": {"name": o.cutset.name, "version": o.cutset.version},
                "calibration": o.summary.provenance.calibration.model_dump()["sets"],
                "na64reco": o.summary.provenance.versions.get("na64reco"),
            }
            for o in outputs
        ],
        closure_eot=closure_eot if closure else None,
    )
    doc = {
        "format": BACKGROUND_FORMAT,
        "version": BACKGROUND_VERSION,
        "blinded": True,
        "blinding": blinding,
        "periods": results,
        "efficiencies": efficiencies,
        "dimuon": dimuon,
        "provenance": prov,
    }
    add_nuisances(doc, systematics)
    doc = without_absent_variations(
        BackgroundDocument.model_validate(plain(doc, nan_as_null=True)).model_dump(mode="json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, doc)
    write_text(out.with_suffix(".md"), markdown_table(results))
    if limit_inputs is not None:
        write_inputs(limit_inputs, doc)
    return doc


def _ledger_entries(outputs: list[RunOutput]) -> list[dict]:
    """Every unblinding recorded in the inputs' ledgers (once each, in time order)."""
    entries = {}
    for o in outputs:
        for e in o.summary.blinding.ledger.entries:
            entries[e.entry_sha256] = e.model_dump(mode="json")
    return sorted(entries.values(), key=lambda e: e["time"])


def _final_count(path: Path, summary: RunSummary) -> dict[str, int]:
    out = {}
    for period, flow in summary.cutflow.items():
        if None in flow.values():
            raise ConfigError(
                path,
                "cutflow",
                "blinded dimuon output: use an analysis without a signal box for the cross-check",
            )
        out[period] = int(list(flow.values())[-1])
    return out


def dimuon_crosscheck(dimuon_dir, reference_dir, verify: bool = True) -> dict:
    """Observed over predicted dimuons per period (data output vs simulated reference)."""
    res = {}
    paths = [Path(d) / "summary.json" for d in (dimuon_dir, reference_dir)]
    obs, ref = (
        read_document(p, RunSummary, format_name=SUMMARY_FORMAT, versions=(SUMMARY_VERSION,))
        for p in paths
    )
    n_obs, n_ref = _final_count(paths[0], obs), _final_count(paths[1], ref)
    e_obs, e_ref = run_output_eot(obs, verify), run_output_eot(ref, verify)
    for period in sorted(n_obs):
        if period not in n_ref or period not in e_ref:
            raise NA64Error(f"dimuon reference {reference_dir} has no period {period}")
        res[period] = dimuon_ratio(
            n_obs[period], e_obs[period]["eot_live"], n_ref[period], e_ref[period]["eot_live"]
        )
    return res


def pooled_eta_down(rows: list[dict]) -> dict | None:
    """eta_down(E_F) of a model from all its samples: a function of the emitted energy only
    (paper 003 Sec. IV B), so the samples' counts per E_F bin add up (None without counts)."""
    curves = [r["eta_down"] for r in rows if r["eta_down"].get("n_upstream") is not None]
    if not curves or any(c["e_f_gev"] != curves[0]["e_f_gev"] for c in curves):
        return None
    up = np.sum([c["n_upstream"] for c in curves], axis=0)
    sel = np.sum([c["n_selected"] for c in curves], axis=0)
    filled = up > 0  # bins no sample reached carry no information: left out
    if filled.sum() < 2 or not sel[filled].any():
        return None
    e_f = np.asarray(curves[0]["e_f_gev"])[filled]
    return {"e_f_gev": e_f.tolist(), "eta": (sel[filled] / up[filled]).tolist()}


def write_inputs(path: str | Path, doc: dict) -> Path:
    """limit_inputs.json from a background document with efficiencies."""
    effs = doc["efficiencies"]
    by_period: dict[str, dict[str, list[dict]]] = {}
    for e in effs:
        by_period.setdefault(e["period"], {}).setdefault(e["model"], []).append(e)
    notes = {}
    periods = []
    for r in doc["periods"]:
        period = r["period"]
        src = period
        if period not in by_period:  # nearest period with signal samples, recorded
            src = min(by_period, key=lambda q: abs(int(q) - int(period)))
            notes[period] = f"efficiencies of {src} used (no signal sample of {period})"
        tables = []
        for model, rows in sorted(by_period[src].items()):
            rows = sorted(rows, key=lambda x: x["mass_gev"])
            tables.append(
                EfficiencyTable(
                    model=model,
                    masses_gev=[x["mass_gev"] for x in rows],
                    efficiency=[x["efficiency"] for x in rows],
                    stat=[x["efficiency_stat"] for x in rows],
                    syst=[x["efficiency_syst"] for x in rows],
                    eta_down=pooled_eta_down(rows),
                )
            )
        t = r["total"]
        e = r["eot"]
        dm = (doc.get("dimuon") or {}).get(period)
        periods.append(
            PeriodInputs(
                period=period,
                eot=Measurement(
                    value=e["eot_live"], stat=e["eot_live_stat"], syst=e["eot_live_syst"]
                ),
                box=Box(ecal_max_gev=r["box_gev"][1], hcal_max_gev=r["hcal_zero_gev"]),
                background=Background(
                    expected=t["expected"],
                    stat=t["stat"],
                    syst=t["syst"],
                    method=t["method"],
                    components={
                        "sideband": Measurement(
                            value=r["sideband"]["expected"],
                            stat=r["sideband"]["stat"],
                            syst=r["sideband"]["syst"],
                        ),
                        **{k: Measurement(**v) for k, v in r["mc_components"]["values"].items()},
                    },
                ),
                efficiencies=tables,
                observed=None,
                dimuon_ratio=Measurement(value=dm["ratio"], stat=dm["ratio_stat"]) if dm else None,
                **nuisance_field(r),
            )
        )
    inputs = LimitInputs(
        name="na64reco background stage",
        blinded=True,
        blinding={**doc["blinding"], "unblinding": None},
        periods=periods,
        provenance={**doc["provenance"], "efficiency_notes": notes},
    )
    return write_limit_inputs(path, inputs)


__all__ = [
    "CLOSURE_EOT",
    "RunOutput",
    "build_background",
    "check_combinable",
    "load_run_output",
    "write_inputs",
]
