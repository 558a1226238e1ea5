"""Blinding: try to see the signal box through every output on a sample with signal injected
into it, and find nothing until the explicit, recorded unblind.

The sample: the shipped 2016 physics run with the 206 events of the A' (20 MeV) sample added
(same run). Its *twin* holds the same events, except that every box candidate (an event passing
every cut, the box included) has lost its physics-trigger bit, so it fails the trigger cut but
stays in the blinded region (E_ECAL and E_HCAL unchanged). While blinded, every output of the
two (histograms in ROOT and pickle at every binning, N-1 histograms, the sideband event list,
summary counts, plots, background inputs) must be identical: nothing depends on the box content.
Unblinded, they differ by the candidates: the comparison sees a difference when there is one.

What a blinded output does show by construction: the number of events in the blinded region
before any other cut (a file's entries are public and each of those events is hidden, so
``processed - cutflow["all"]`` is that number); it is the same for the two samples.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _reliability import load_outputs, physics_entries, run_analysis, write_manifest
from click.testing import CliRunner

from na64reco.blinding import Ledger, check_record, region_masks
from na64reco.calibration.io import load_calibration
from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.cutsets.config import load_cutset
from na64reco.cutsets.evaluate import blind_mask, cut_masks
from na64reco.errors import ConfigError
from na64reco.eventtree import open_event_file, write_events
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.fileset import load_fileset
from na64reco.reco.event import reconstruct_event
from na64reco.run.outputs import read_histograms
from na64reco.shipped import calibration_path

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
SIGNAL_FILE = SAMPLE / "na64sim_2016_signal-aprime-0.02GeV_run02463.root"
SELECTIONS = Path(__file__).resolve().parents[1] / "selections"
BOX_CUTS = ("hcal_zero", "box")


def _injected_batch() -> tuple[dict, dict]:
    """The 2016 physics run plus the A' sample's events (run, spill of the physics run;
    event numbers after the physics ones), and the physics file's metadata."""
    physics = next(e for e in physics_entries() if e.period == "2016")
    pfile = open_event_file(physics.path)
    data, signal = pfile.arrays(), open_event_file(SIGNAL_FILE).arrays()
    n = len(signal["run"])
    signal["run"] = np.full(n, data["run"][0], dtype=data["run"].dtype)
    signal["spill"] = np.full(n, data["spill"].max(), dtype=data["spill"].dtype)
    signal["event"] = data["event"].max() + 1 + np.arange(n, dtype=data["event"].dtype)
    batch = {
        k: ak.concatenate([data[k], signal[k]])
        if k in ("mm", "st")
        else np.concatenate([data[k], signal[k]])
        for k in data
    }
    return batch, pfile.metadata


def _select(batch: dict) -> dict:
    """Independent of the run machinery: reconstruct and evaluate the cut set on the batch.
    ``region``: the invisible box; ``hidden``: every protected region (invisible and phi, with
    the shipped constants: those the blinding definition names)."""
    cutset = load_cutset("invisible")
    (run,) = np.unique(batch["run"])
    cset = load_calibration(calibration_path()).for_run(int(run))
    variables = reconstruct_event(batch, cset)
    masks = cut_masks(cutset, variables, "2016")
    regions = region_masks(variables, "2016")
    return {
        "region": blind_mask(cutset, masks),
        "hidden": np.logical_or.reduce(list(regions.values())),
        "phi": regions["phi"],
        "selected": np.logical_and.reduce(list(masks.values())),
        "ecal": np.asarray(variables["ecal_e"]),
        "hcal": np.asarray(variables["hcal_e"]),
    }


@pytest.fixture(scope="module")
def injected(tmp_path_factory) -> dict:
    """Manifests of the injected sample and of its twin, their selections, and four runs."""
    tmp = tmp_path_factory.mktemp("blinding")
    batch, metadata = _injected_batch()
    sel = _select(batch)
    twin = dict(batch)
    twin["trigger"] = batch["trigger"].copy()
    twin["trigger"][sel["selected"]] &= ~np.asarray(TRIGGER_PHYSICS, dtype=batch["trigger"].dtype)
    twin_sel = _select(twin)
    entry = next(e for e in physics_entries() if e.period == "2016")
    manifests = {}
    for name, b in (("injected", batch), ("twin", twin)):
        folder = tmp / name
        folder.mkdir()
        path = write_events(folder / Path(entry.path).name, b, metadata)
        update = {"path": str(path), "sha256": sha256_file(path), "events": len(b["run"])}
        manifests[name] = write_manifest(folder, [entry.model_copy(update=update)], name=name)
    runs = {}
    for name in ("injected", "twin"):
        for unblind in (False, True):
            out = tmp / f"{name}-{'unblinded' if unblind else 'blinded'}"
            run_analysis(manifests[name], "invisible", out, unblind=unblind, quiet=True,
                         make_plots=not unblind)  # fmt: skip
            runs[(name, unblind)] = out
    return {"tmp": tmp, "sel": sel, "twin_sel": twin_sel, "runs": runs, "batch": batch,
            "manifests": manifests}  # fmt: skip


def test_the_sample_has_signal_in_the_box_and_the_twin_has_none(injected):
    sel, twin = injected["sel"], injected["twin_sel"]
    n_signal = open_event_file(SIGNAL_FILE).num_entries
    candidates = sel["selected"][-n_signal:].sum()
    assert candidates > 10  # injected signal passes every cut: the tests below are not vacuous
    assert sel["selected"].sum() == candidates + sel["selected"][:-n_signal].sum()
    assert twin["selected"].sum() == 0
    np.testing.assert_array_equal(twin["region"], sel["region"])  # the same events hidden


def test_blinded_outputs_do_not_depend_on_the_box_content(injected):
    """Every histogram (pickle and ROOT, flow bins included), the cutflow, the sideband list
    and the plots are identical for the sample with box candidates and its twin without."""
    a, b = injected["runs"][("injected", False)], injected["runs"][("twin", False)]
    sa, ha, ca = load_outputs(a)
    sb, hb, cb = load_outputs(b)
    assert sa["blinding"]["blinded"]
    assert sb["blinding"]["blinded"]
    assert sa["cutflow"] == sb["cutflow"]
    assert [r["processed"] for r in sa["accounting"]] == [r["processed"] for r in sb["accounting"]]
    np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))
    for cut in ha["nminus1"]:
        np.testing.assert_array_equal(
            ha["nminus1"][cut].view(flow=True), hb["nminus1"][cut].view(flow=True)
        )
    assert ca == cb
    with uproot.open(a / "histograms.root") as fa, uproot.open(b / "histograms.root") as fb:
        keys = sorted(k for k, c in fa.classnames().items() if c.startswith("TH"))
        assert keys == sorted(k for k, c in fb.classnames().items() if c.startswith("TH"))
        for key in keys:
            np.testing.assert_array_equal(fa[key].values(flow=True), fb[key].values(flow=True))
            np.testing.assert_array_equal(
                fa[key].variances(flow=True), fb[key].variances(flow=True)
            )
    plots = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert plots  # the plots were made
    assert plots == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    for p in plots:
        assert (a / p).read_bytes() == (b / p).read_bytes(), p


def test_unblinded_outputs_show_the_candidates(injected, caplog):
    """The same comparison unblinded sees the difference; the unblind act is recorded."""
    sel = injected["sel"]
    a = injected["runs"][("injected", True)]
    b = injected["runs"][("twin", True)]
    sa, ha, ca = load_outputs(a)
    sb, _, cb = load_outputs(b)
    assert sa["cutflow"]["2016"]["box"] == sel["selected"].sum()
    assert sb["cutflow"]["2016"]["box"] == 0
    assert ha["plane"][{"period": "2016", "stage": "box"}].sum() == sel["selected"].sum()
    assert len(ca) - 1 == sel["selected"].sum()  # unblinded: the event list is the selection
    assert ca != cb
    blinding = sa["blinding"]
    assert blinding["blinded"] is False
    assert blinding["unblinded_by"]
    assert datetime.fromisoformat(blinding["unblinded_at"]).tzinfo is not None
    assert sa["provenance"]["unblind"] is True
    with caplog.at_level(logging.WARNING, logger="na64reco.run"):
        run_analysis(
            write_manifest(
                injected["tmp"],
                [e for e in load_fileset(SAMPLE / "fileset.json").files if e.kind == "physics"][:1],
                name="log",
            ),
            "invisible",
            injected["tmp"] / "log",
            unblind=True,
            quiet=True,
            make_plots=False,
        )
    assert any("UNBLINDING" in r.getMessage() for r in caplog.records)


def test_no_rebinning_or_projection_reaches_into_the_box(injected):
    """Blinded: every plane histogram, summed over any set of bins that overlaps the box (down
    to one bin with flow), holds only visible events; the N-1 histograms of the box cuts are
    empty inside the box."""
    sel = injected["sel"]
    out = injected["runs"][("injected", False)]
    summary, hists, _ = load_outputs(out)
    flow = summary["cutflow"]["2016"]
    assert [flow[c] for c in BOX_CUTS] == [None, None]
    visible = ~sel["hidden"]
    plane = hists["plane"][{"period": "2016"}]
    in_box = (slice(0, 51), slice(0, 2))  # flow view: E_ECAL < 50 -> [0, 51), E_HCAL < 1 -> [0, 2)
    for stage in plane.axes["stage"]:
        h = plane[{"stage": stage}]
        assert int(h.view(flow=True)[in_box].sum()) == 0, stage
        if flow[stage] is not None:  # one bin: the visible count, never the box
            assert h.sum(flow=True) == flow[stage]
            assert h.project("ecal_e").sum(flow=True) == flow[stage]
    assert plane[{"stage": "all"}].sum(flow=True) == visible.sum()
    nm1 = {c: hists["nminus1"][c][{"period": "2016"}].view(flow=True) for c in BOX_CUTS}
    assert nm1["box"][:51].sum() == 0  # E_ECAL < 50 GeV, underflow included
    assert nm1["hcal_zero"][:2].sum() == 0  # E_HCAL < 1 GeV
    with uproot.open(out / "histograms.root") as f:
        for key, cls in f.classnames().items():
            h = f[key]
            if cls == "TH2D" and "/2016/" in key:
                assert h.values(flow=True)[in_box].sum() == 0, key
            if key.startswith("plane/2016/box;"):  # after both box cuts: only hidden events
                assert h.values(flow=True).sum() == 0, key
    # the sideband list: no event of the region, every visible event passing the other cuts
    rows = [line.split(",") for line in load_outputs(out)[2][1:]]
    ids = {(int(r[1]), int(r[2]), int(r[3])) for r in rows}
    batch = injected["batch"]
    region_ids = set(
        zip(
            batch["run"][sel["region"]].tolist(),
            batch["spill"][sel["region"]].tolist(),
            batch["event"][sel["region"]].tolist(),
            strict=True,
        )
    )
    assert len(region_ids) == sel["region"].sum() > 0
    assert not ids & region_ids
    assert len(rows) == flow["veto"]  # the stage before the box cuts
    # what a blinded summary shows: the regions' population before any cut, nothing more
    (row,) = summary["accounting"]
    assert row["processed"] - flow["all"] == sel["hidden"].sum()
    assert sel["hidden"].sum() > sel["region"].sum()  # the phi region is hidden as well


@pytest.mark.slow
def test_background_inputs_do_not_depend_on_the_box_content(injected, tmp_path):
    """``na64 background`` on the blinded run folders: identical for the two samples (but for
    the input paths and checksums in the provenance), no box count in them."""
    docs = []
    for name in ("injected", "twin"):
        run_dir = injected["runs"][(name, False)]
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(
            main,
            ["-q", "background", str(run_dir), "--out", str(out),
             "--plots", str(tmp_path / f"{name}-plots"), "--no-closure"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        docs.append(json.loads(out.read_text()))
    a, b = (_without_provenance(d) for d in docs)
    assert a == b
    plots = sorted(p.name for p in (tmp_path / "injected-plots").glob("*.png"))
    assert plots
    for name in plots:
        png = (tmp_path / "injected-plots" / name).read_bytes()
        assert png == (tmp_path / "twin-plots" / name).read_bytes(), name
    text = json.dumps(docs[0])
    assert re.search(r'"observed[^"]*": (?!null)', text) is None


def _without_provenance(doc):
    """The document with file paths, checksums, times and versions dropped."""
    if isinstance(doc, dict):
        return {
            k: _without_provenance(v)
            for k, v in doc.items()
            if k not in ("provenance", "path", "sha256", "summary_sha256", "source", "dir", "plot")
        }
    if isinstance(doc, list):
        return [_without_provenance(v) for v in doc]
    return doc


def test_histograms_json_holds_no_hidden_storage(injected):
    """histograms.json holds the two blinded histogram sets and nothing else (no event
    arrays): the histograms and their metadata, as hist serialises them."""
    doc = json.loads((injected["runs"][("injected", False)] / "histograms.json").read_text())
    assert set(doc) == {"format", "version", "plane", "nminus1"}
    assert set(read_histograms(injected["runs"][("injected", False)] / "histograms.json")) == {
        "plane",
        "nminus1",
    }


def test_other_analyses_boxes_are_hidden_by_default(injected, tmp_path):
    """Every run hides every protected region (the same events feed every selection): the
    dimuon run of the injected sample and of its twin are identical, although the dimuon cuts
    do not hide the invisible box by themselves; even unblinded, a cut set without a protected
    name opens no protected region (the unblinding is recorded all the same)."""
    outs = {}
    for name in ("injected", "twin"):
        for unblind in (False, True):
            manifest = injected["manifests"][name]
            outs[name, unblind] = tmp_path / f"{name}-{unblind}"
            summary = run_analysis(manifest, "dimuon", outs[name, unblind], quiet=True,
                                   make_plots=False, unblind=unblind)  # fmt: skip
            assert summary["blinding"]["regions_hidden"] == ["invisible", "phi"]
            assert summary["blinding"]["regions_opened"] == []
            assert summary["blinding"]["blinded"] is not unblind
    for unblind in (False, True):
        (sa, ha, ca), (sb, hb, cb) = (load_outputs(outs[n, unblind]) for n in ("injected", "twin"))
        assert sa["cutflow"] == sb["cutflow"]
        assert ca == cb
        np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))
        for cut in ha["nminus1"]:
            np.testing.assert_array_equal(
                ha["nminus1"][cut].view(flow=True), hb["nminus1"][cut].view(flow=True)
            )
    (entry,) = load_outputs(outs["injected", True])[0]["blinding"]["ledger"]["entries"]
    assert entry["analysis"] == "dimuon"
    assert entry["regions"] == []


# --- the hostile user's bypasses (issue 15): each refused, or every box count null -----------
def _cutset_copy(folder: Path, replace: dict[str, str], name: str = "invisible") -> Path:
    text = (SELECTIONS / "invisible.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}_copy.toml"
    path.write_text(text.replace('name = "invisible"', f'name = "{name}"'))
    return path


NO_BOX = {'signal_box = ["hcal_zero", "box"]': "signal_box = []"}
DECOY = {
    'signal_box = ["hcal_zero", "box"]': 'signal_box = ["decoy"]',
    '[[cuts]]\nname = "trigger"': (
        '[[cuts]]\nname = "decoy"\ndoc = "selects nothing"\n'
        'conditions = [{ variable = "ecal_e", min = 1000.0, max = 1001.0 }]\n\n'
        '[[cuts]]\nname = "trigger"'
    ),
}


@pytest.mark.parametrize(("replace", "problem"), [
    (NO_BOX, "cut set 'invisible' has no signal box, but 'invisible' is a protected analysis"),
    (DECOY, "defines its signal box ['decoy'] as 1000 <= ecal_e < 1001 in 2016"),
], ids=["no-box copy with the shipped name", "decoy box"])  # fmt: skip
def test_copy_of_a_protected_cut_set_without_its_box_is_refused(injected, tmp_path, replace,
                                                                problem):  # fmt: skip
    """A copy of invisible.toml with ``signal_box = []`` or with a decoy box that selects
    nothing, under the name ``invisible``: refused before any event is read."""
    cuts = _cutset_copy(tmp_path, replace)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_analysis(injected["manifests"]["injected"], cuts, out, quiet=True)
    assert (info.value.path, info.value.key) == (str(cuts), "signal_box")
    assert problem in info.value.problem
    assert "rename the cut set" in info.value.problem
    assert not out.exists()


def test_analyze_cutset_override_without_the_box_is_refused_before_anything_runs(
    injected, tmp_path
):
    """``na64 analyze --cutset invisible=<no-box copy>``: one error line, nothing run, nothing
    written (no stage, no report)."""
    cuts = _cutset_copy(tmp_path, NO_BOX)
    out = tmp_path / "analysis"
    args = ["-q", "analyze", str(injected["manifests"]["injected"]), "--out", str(out),
            "--cutset", f"invisible={cuts}"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"Error: {cuts}: signal_box: cut set 'invisible' has no signal box" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_rescaled_calibration_and_thresholds_hide_the_same_events(injected, tmp_path):
    """ECAL gains x1000 and the cut set's ECAL thresholds x1000: under the protected name the
    cut set is refused; renamed (and the gain check relaxed on purpose), the run still hides
    exactly the events of the protected regions (evaluated with the definition's constants):
    the sample and its twin give identical outputs, every box count is null."""
    raw = json.loads(calibration_path().read_text())
    gain = next(c for c in raw["corrections"] if c["name"] == "ecal_gain")
    for run_bin in gain["data"]["content"]:
        for item in run_bin["content"]:
            item["value"] *= 1000.0
    calib = tmp_path / "x1000.json"
    calib.write_text(json.dumps(raw))
    scaled = {
        '"2016-2018" = 50.0, "2021" = 47.0, "2022" = 50.0': (
            '"2016-2018" = 50000.0, "2021" = 47000.0, "2022" = 50000.0'
        ),
        '"ecal_ps", min = 0.5': '"ecal_ps", min = 500.0',
        '"ecal_out_of_time", max = 2.0': '"ecal_out_of_time", max = 2000.0',
    }
    with pytest.raises(ConfigError, match="signal_box: cut set 'invisible' defines its signal"):
        run_analysis(injected["manifests"]["injected"], _cutset_copy(tmp_path, scaled),
                     tmp_path / "refused", calibration=calib, gain_tolerance=1e5)  # fmt: skip
    cuts = _cutset_copy(tmp_path, scaled, name="rescaled")
    outs = {}
    for name in ("injected", "twin"):
        outs[name] = tmp_path / name
        summary = run_analysis(injected["manifests"][name], cuts, outs[name], calibration=calib,
                               gain_tolerance=1e5, quiet=True, make_plots=False)  # fmt: skip
        assert summary["blinding"]["blinded"] is True
        assert summary["blinding"]["regions_hidden"] == ["invisible", "phi"]
        assert [summary["cutflow"]["2016"][c] for c in BOX_CUTS] == [None, None]
        (row,) = summary["accounting"]
        assert (
            row["processed"] - summary["cutflow"]["2016"]["all"] == injected["sel"]["hidden"].sum()
        )
    (sa, ha, ca), (sb, hb, cb) = (load_outputs(outs[n]) for n in ("injected", "twin"))
    assert sa["cutflow"] == sb["cutflow"]
    assert ca == cb
    np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))


def test_unblinding_record_survives_a_blinded_rerun_into_the_same_folder(injected, tmp_path):
    """Unblinded, then blinded twice into the same folder: the ledger keeps the unblinding (the
    file only grows), and each blinded summary shows it while saying blinded."""
    manifest, out = injected["manifests"]["injected"], tmp_path / "run"
    opened = run_analysis(manifest, "invisible", out, unblind=True, quiet=True, make_plots=False)
    entry = opened["blinding"]["unblinding"]
    assert entry["regions"] == ["invisible"]
    assert entry["user"]
    assert entry["configuration_sha256"]
    assert opened["blinding"]["regions_opened"] == ["invisible"]
    assert opened["blinding"]["regions_hidden"] == ["phi"]  # opened: only the region of its name
    ledger = (out / "unblinding.jsonl").read_bytes()
    for _ in range(2):
        again = run_analysis(manifest, "invisible", out, quiet=True, make_plots=False)
        assert again["blinding"]["blinded"] is True
        assert again["blinding"]["unblinding"] is None
        assert again["blinding"]["ledger"]["entries"] == [entry]
        assert (out / "unblinding.jsonl").read_bytes() == ledger
        assert again["cutflow"]["2016"]["box"] is None
    check_record(again["blinding"], out / "summary.json", blinded=True)


def test_an_edited_ledger_is_refused(tmp_path):
    """The ledger is a chain: a removed, reordered or edited entry is an error naming the
    line, and no run appends to it until it is restored."""
    ledger = Ledger(tmp_path / "unblinding.jsonl")
    fields = dict(time="t", user="u", host="h", regions=["invisible"], signal_box=[],
                  analysis="invisible", configuration_sha256="c", configuration={},
                  output="o", command=None)  # fmt: skip
    first, second = ledger.append(**fields), ledger.append(**{**fields, "time": "t2"})
    assert ledger.entries() == [first, second]
    lines = ledger.path.read_text().splitlines()
    ledger.path.write_text(lines[1] + "\n")
    with pytest.raises(ConfigError, match=r"line 1: the ledger was edited"):
        ledger.entries()
    ledger.path.write_text(lines[0].replace('"user": "u"', '"user": "x"') + "\n" + lines[1] + "\n")
    with pytest.raises(ConfigError, match=r"line 1: the entry was edited"):
        ledger.append(**fields)


def test_runs_beyond_the_blinding_file_are_blinded_with_the_true_constants(tmp_path):
    """A 2018 run (the shipped constants hold 2016 and 2022 only) with the user's own constants:
    its regions are evaluated with the true constants of the simulated 2018 detector, recorded."""
    from na64reco.calibration.io import write_calibration
    from na64reco.calibration.truth import calibration_from_truth
    from na64reco.fileset import FilesetEntry
    from na64reco.sim.run import SimRequest, simulate

    (sim,) = simulate(SimRequest(period="2018", kind="random", events=300, seed=3), tmp_path)
    path = Path(sim["path"])
    efile = open_event_file(path)
    entry = FilesetEntry(path=str(path), kind="random", period="2018", run_min=efile.runs[0],
                         run_max=efile.runs[-1], events=efile.num_entries,
                         sha256=sha256_file(path))  # fmt: skip
    manifest = write_manifest(tmp_path, [entry], name="y2018")
    cset = calibration_from_truth("2018")
    calib = write_calibration(tmp_path / "truth.json", [cset])
    summary = run_analysis(manifest, "invisible", tmp_path / "out", calibration=calib,
                           kinds=("random",), quiet=True, make_plots=False)  # fmt: skip
    regions = region_masks(reconstruct_event(efile.arrays(), cset), "2018")
    hidden = np.logical_or.reduce(list(regions.values())).sum()
    (row,) = summary["accounting"]
    assert hidden > 0  # random triggers: no energy, in the invisible region
    assert row["processed"] - summary["cutflow"]["2018"]["all"] == hidden
    assert summary["blinding"]["calibration"]["other_periods"].startswith("true constants")
