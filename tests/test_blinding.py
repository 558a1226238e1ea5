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
import pickle
import re
from datetime import datetime
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _reliability import load_outputs, physics_entries, run_analysis, write_manifest
from click.testing import CliRunner

from na64reco.calibration.io import load_calibration
from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.cutsets.config import load_cutset
from na64reco.cutsets.evaluate import blind_mask, cut_masks
from na64reco.eventtree import open_event_file, write_events
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.fileset import load_fileset
from na64reco.reco.event import reconstruct_event
from na64reco.shipped import calibration_path

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
SIGNAL_FILE = SAMPLE / "na64sim_2016_signal-aprime-0.02GeV_run02463.root"
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
    """Independent of the run machinery: reconstruct and evaluate the cut set on the batch."""
    cutset = load_cutset("invisible")
    (run,) = np.unique(batch["run"])
    cset = load_calibration(calibration_path()).for_run(int(run))
    variables = reconstruct_event(batch, cset)
    masks = cut_masks(cutset, variables, "2016")
    return {
        "region": blind_mask(cutset, masks),
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
            # hide=(): only the invisible box is hidden, so that the counts below are those
            # of that box (by default the phi box is hidden too: test_other_analyses_boxes...)
            run_analysis(manifests[name], "invisible", out, unblind=unblind, quiet=True,
                         make_plots=not unblind, hide=())  # fmt: skip
            runs[(name, unblind)] = out
    return {"tmp": tmp, "sel": sel, "twin_sel": twin_sel, "runs": runs, "batch": batch}


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
    visible = ~sel["region"]
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
    # what a blinded summary shows: the region's population before any cut, nothing more
    (row,) = summary["accounting"]
    assert row["processed"] - flow["all"] == sel["region"].sum()


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


def test_pickled_histograms_hold_no_hidden_storage(injected):
    """The pickle holds the two blinded histogram sets and nothing else (no event arrays)."""
    with open(injected["runs"][("injected", False)] / "histograms.pkl", "rb") as fh:
        content = pickle.load(fh)
    assert set(content) == {"plane", "nminus1"}


def test_other_analyses_boxes_are_hidden_by_default(injected, tmp_path):
    """By default a run hides the other shipped analyses' signal regions too (the same events
    feed every selection): the dimuon run of the injected sample and of its twin are identical,
    although the dimuon cuts do not hide the invisible box by themselves."""
    outs = {}
    for name in ("injected", "twin"):
        manifest = injected["tmp"] / name / f"{name}.json"
        outs[name] = tmp_path / name
        summary = run_analysis(manifest, "dimuon", outs[name], quiet=True, make_plots=False)
        assert summary["blinding"]["also_hidden"] == {
            "invisible": ["hcal_zero", "box"],
            "phi": ["muon_tag", "box"],
        }
    (sa, ha, ca), (sb, hb, cb) = (load_outputs(outs[n]) for n in ("injected", "twin"))
    assert sa["cutflow"] == sb["cutflow"]
    assert ca == cb
    np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))
    for cut in ha["nminus1"]:
        np.testing.assert_array_equal(
            ha["nminus1"][cut].view(flow=True), hb["nminus1"][cut].view(flow=True)
        )
    # hide=() shows the invisible box's candidates in the dimuon selection's early stages
    opened = tmp_path / "nothing-hidden"
    manifest = injected["tmp"] / "injected" / "injected.json"
    summary = run_analysis(manifest, "dimuon", opened, quiet=True, make_plots=False, hide=())
    assert summary["cutflow"] != load_outputs(outs["injected"])[0]["cutflow"]
