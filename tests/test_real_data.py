"""Converted data in: files written by CERN ROOT (the example C++ converter
``docs/examples/na64_convert.C`` run by ROOT's interpreter) with vector hits, with counted
arrays and with p348reco-style names and the 5x6 ECAL through an input map, each through
``na64 fileset`` and ``na64 run``, against the same events as uproot wrote them (the shipped
2022 physics run). ROOT comes from the test extra: nothing here is skipped without it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _root_tools import P348_MAP, SAMPLES, run_root
from click.testing import CliRunner

from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.errors import InputFileError
from na64reco.eventtree import open_event_file
from na64reco.eventtree.inputmap import load_input_map
from na64reco.fileset import load_fileset

PHYSICS_2022 = SAMPLES / "na64sim_2022_physics_run06035.root"
PHYSICS_2016 = SAMPLES / "na64sim_2016_physics_run01800.root"
LAYOUTS = ("vector", "counted", "p348")
ENTRIES_2022 = 1492


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """The 2022 physics run rewritten by ROOT in each layout, one folder each."""
    root = tmp_path_factory.mktemp("converted")
    paths = {layout: root / layout / f"run06035_{layout}.root" for layout in LAYOUTS}
    for path in paths.values():
        path.parent.mkdir()
    out = run_root(
        {"convert": [[str(PHYSICS_2022), str(p), layout] for layout, p in paths.items()]}, root
    )
    assert out["convert"] == [0, 0, 0]
    return paths


@pytest.fixture(scope="module")
def runs(converted, tmp_path_factory) -> dict[str, Path]:
    """``na64 fileset`` + ``na64 run`` of every ROOT-written layout, and ``na64 run`` of a
    folder of the uproot-written physics runs (no manifest)."""
    root = tmp_path_factory.mktemp("runs")
    out: dict[str, Path] = {}
    for layout, path in converted.items():
        manifest = path.parent / "fileset.json"
        extra = ["--map", str(P348_MAP)] if layout == "p348" else []
        _cli("fileset", str(path.parent), "--out", str(manifest), *extra)
        out[layout] = root / layout
        _cli("run", str(manifest), "--analysis", "invisible", "--out", str(out[layout]))
    folder = root / "uproot-written"
    folder.mkdir()
    for source in (PHYSICS_2016, PHYSICS_2022):
        shutil.copy(source, folder)
    out["uproot"] = root / "uproot"
    _cli("run", str(folder), "--analysis", "invisible", "--out", str(out["uproot"]))
    return out


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_root_wrote_the_hit_layouts(converted):
    with uproot.open(converted["vector"]) as f:
        tree = f["events"]
        assert "nmm" not in tree
        assert "nst" not in tree
        assert tree["mm_strip"].typename == "std::vector<uint16_t>"
        assert tree["st_t"].typename == "std::vector<float>"
    with uproot.open(converted["counted"]) as f:
        tree = f["events"]
        assert tree["nmm"].typename == "int32_t"
        assert tree["mm_strip"].title == "mm_strip[nmm]/s"
    with uproot.open(converted["p348"]) as f:
        tree = f["events"]
        assert tree["ECAL_ampl"].typename == "float[2][5][6]"
        assert "ecal_amp" not in tree
        assert "runNo" in tree


def test_every_layout_reads_as_the_uproot_written_file(converted):
    original = open_event_file(PHYSICS_2022)
    # a converter of real data has no MC truth: the example writes none
    reference = {k: v for k, v in original.arrays().items() if not k.startswith("mc_")}
    for layout, path in converted.items():
        imap = load_input_map(P348_MAP) if layout == "p348" else None
        ef = open_event_file(path, input_map=imap)
        assert ef.num_entries == ENTRIES_2022
        assert ef.metadata["period"] == original.metadata["period"] == "2022"
        got = ef.arrays()
        assert set(got) == set(reference), layout
        for name, value in reference.items():
            if isinstance(value, ak.Array):
                assert ak.to_list(got[name]) == ak.to_list(value), (layout, name)
            else:
                np.testing.assert_array_equal(got[name], value, err_msg=f"{layout} {name}")
                assert got[name].dtype == value.dtype, (layout, name)


def test_input_map_flags_the_missing_ecal_column(converted):
    """The 5x6 ECAL of 2021-2022 into the 6x6 grid: column x = 5 of both sections absent, and
    the uproot-written file (the simulation) holds zeros there as the contract says."""
    imap = load_input_map(P348_MAP)
    absent = imap.absent["ecal_amp"]
    assert len(absent) == 12
    assert {tuple(c[:2]) for c in absent} == {(0, 5), (1, 5)}
    amp = open_event_file(PHYSICS_2022).arrays(["ecal_amp"])["ecal_amp"]
    assert not amp[:, :, 5, :].any()


def test_fileset_of_root_written_files(converted, runs):  # runs: made the manifests
    for layout, path in converted.items():
        fs = load_fileset(path.parent / "fileset.json", verify_checksums=True)
        (entry,) = fs.files
        assert Path(entry.path).resolve() == path.resolve()
        assert (entry.kind, entry.period, entry.run_min, entry.run_max) == (
            "physics",
            "2022",
            6035,
            6035,
        )
        assert entry.events == ENTRIES_2022
        assert entry.sha256 == sha256_file(path)
        if layout == "p348":
            assert entry.input_map is not None
        else:
            assert entry.input_map is None


def test_run_of_root_written_files_is_that_of_the_uproot_written_one(runs):
    """Every event accounted for; the same cutflow, histograms and sideband events."""
    reference = _summary(runs["uproot"])
    assert reference["cutflow"]["2022"]["veto"] > 0
    ref_hists = json.loads((runs["uproot"] / "histograms.json").read_text())
    with uproot.open(runs["uproot"] / "histograms.root") as f:
        names = [k for k, c in f.classnames().items() if c.startswith("TH")]
    for layout in LAYOUTS:
        summary = _summary(runs[layout])
        (acc,) = summary["accounting"]
        assert acc["entries"] == acc["processed"] == ENTRIES_2022
        assert acc["skipped"] == 0
        assert summary["bad_files"] == []
        assert summary["cutflow"] == {"2022": reference["cutflow"]["2022"]}, layout
        hists = json.loads((runs[layout] / "histograms.json").read_text())
        for kind in ("plane", "nminus1"):
            # the uproot-written run also holds 2016: compare the 2022 bins through ROOT files
            assert hists[kind].keys() == ref_hists[kind].keys()
        with (
            uproot.open(runs[layout] / "histograms.root") as got,
            uproot.open(runs["uproot"] / "histograms.root") as ref,
        ):
            for name in names:
                if "2022" in name:
                    np.testing.assert_array_equal(
                        got[name].values(flow=True), ref[name].values(flow=True), err_msg=name
                    )
        sideband = [
            row
            for row in (runs["uproot"] / "sideband_events.csv").read_text().splitlines()[1:]
            if row.split(",")[1] == "6035"
        ]
        got_rows = (runs[layout] / "sideband_events.csv").read_text().splitlines()[1:]
        assert sideband, layout
        assert got_rows == sideband, layout


def test_input_map_is_recorded_in_the_provenance(runs):
    (inp,) = _summary(runs["p348"])["provenance"]["inputs"]
    imap = load_input_map(P348_MAP)
    assert inp["input_map"]["name"] == "p348reco-2022"
    assert inp["input_map"]["sha256"] == imap.sha256
    assert inp["input_map"]["source"] == str(P348_MAP.resolve())
    assert inp["input_map"]["absent"]["ecal_amp"].startswith("12 cell(s)")


def test_folder_of_root_files_runs_without_a_manifest(runs):
    summary = _summary(runs["uproot"])
    assert sorted(summary["cutflow"]) == ["2016", "2022"]
    counts = {Path(a["path"]).name: a["processed"] for a in summary["accounting"]}
    assert counts == {PHYSICS_2016.name: 1987, PHYSICS_2022.name: ENTRIES_2022}


def test_root_draws_what_we_read(converted):
    """ROOT's TTree::Draw on the converted files gives the values the toolkit reads."""
    spec = {
        "trees": [
            {"path": str(converted[k]), "draw": ["mm_strip", "ecal_amp[1][2][3]"]}
            for k in ("vector", "counted")
        ]
    }
    out = run_root(spec, converted["vector"].parent.parent)
    ref = open_event_file(PHYSICS_2022).arrays(["mm", "ecal_amp"])
    for layout in ("vector", "counted"):
        tree = out["trees"][str(converted[layout])]
        assert tree["entries"] == ENTRIES_2022
        assert tree["draw"]["mm_strip"] == ak.to_list(ak.flatten(ref["mm"].strip))
        np.testing.assert_array_equal(
            tree["draw"]["ecal_amp[1][2][3]"], ref["ecal_amp"][:, 1, 2, 3]
        )
        assert json.loads(tree["metadata"])["schema_version"] == 1


SHORTEN_ONE_VECTOR = r"""
#include <TFile.h>
#include <TTree.h>
#include <vector>
// Copies a tree, one hit dropped from mm_amp (not from the other MM fields) in the first
// event with MM hits: returns that entry.
int shorten_one_vector(const char *input, const char *output)
{
   TFile fin(input);
   TTree *tree = (TTree *)fin.Get("events");
   std::vector<float> *amp = nullptr;
   tree->SetBranchAddress("mm_amp", &amp);
   TFile fout(output, "RECREATE");
   TTree *copy = tree->CloneTree(0);
   int changed = -1;
   for (Long64_t i = 0; i < tree->GetEntries(); ++i) {
      tree->GetEntry(i);
      if (changed < 0 && !amp->empty()) {
         amp->pop_back();
         changed = (int)i;
      }
      copy->Fill();
   }
   copy->Write();
   fin.Get("na64_metadata")->Write("na64_metadata");
   fout.Close();
   return changed;
}
"""


def test_vector_hits_disagreeing_on_the_hit_count_are_refused(converted, tmp_path):
    """The vector layout has no counter: the fields of a collection must agree on every read."""
    macro = tmp_path / "shorten_one_vector.C"
    macro.write_text(SHORTEN_ONE_VECTOR)
    bad = tmp_path / "bad.root"
    spec = {"calls": [[str(macro), "shorten_one_vector", [str(converted["vector"]), str(bad)]]]}
    (entry,) = run_root(spec, tmp_path)["calls"]
    assert entry >= 0
    with pytest.raises(InputFileError) as info:
        open_event_file(bad).arrays()
    message = str(info.value)
    assert "bad.root" in message
    assert "branch mm_amp" in message
    assert f"first at entry {entry}" in message


def test_exposure_of_a_converted_run_through_its_input_map(runs, converted, tmp_path):
    """The beam-trigger count (EOT) of the p348-layout run reads runNo / trigMask through the
    run's recorded input map: the same EOT as the contract-named layouts of the same events;
    a map edited since the run is refused, naming the file."""
    from na64reco.background.build import load_run_output
    from na64reco.background.exposure import run_output_eot

    eot = {layout: run_output_eot(load_run_output(runs[layout]).summary) for layout in LAYOUTS}
    assert eot["p348"] == eot["vector"] == eot["counted"]
    assert eot["p348"]["2022"]["n_beam_trigger"] > 0
    # the run's own record of its map, pointed at an edited copy
    summary = load_run_output(runs["p348"]).summary
    edited = tmp_path / "edited.toml"
    text = P348_MAP.read_text().replace(
        'source = "BEAM_time"', 'source = "BEAM_time"\noffset = 1.0'
    )
    assert text != P348_MAP.read_text()
    edited.write_text(text)
    record = summary.provenance.inputs[0]
    record.input_map = {**record.input_map, "source": str(edited)}
    with pytest.raises(InputFileError, match=r"changed: sha256 .*, the run's provenance says"):
        run_output_eot(summary)
