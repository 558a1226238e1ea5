"""Skims (``na64 run --skim STAGE``, ``na64reco.run.skim``): the shipped sample skimmed at
``veto`` reopens in ROOT and in ``na64 run`` with the same cutflow from ``veto`` on, never holds
a blinded event, and ``NA64Schema.uproot_writeable`` keeps every detector. Also the ROOT side
of ``histograms.root``: TH1/TH2 integrals equal to ours."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _root_tools import SAMPLES, run_root
from click.testing import CliRunner
from coffea.nanoevents import NanoEventsFactory

from na64reco.analyses import resolve_cutset
from na64reco.calibration.io import load_calibration
from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.conditions import period_of_run
from na64reco.cutsets.evaluate import cut_masks
from na64reco.eventtree import NA64Schema, open_event_file
from na64reco.fileset import load_fileset
from na64reco.processors.selection import SelectionProcessor
from na64reco.reco.event import reconstruct_event
from na64reco.run.outputs import flat_histograms, read_histograms
from na64reco.shipped import calibration_path

PHYSICS_2022 = SAMPLES / "na64sim_2022_physics_run06035.root"
STAGE = "veto"


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == 0, result.output


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def skimmed(tmp_path_factory) -> dict[str, Path]:
    """The shipped sample run with ``--skim veto``, and its skims run again (from their
    folder: no manifest given)."""
    root = tmp_path_factory.mktemp("skims")
    full, again = root / "full", root / "again"
    _cli(
        "run", str(SAMPLES / "fileset.json"), "--analysis", "invisible", "--out", str(full),
        "--skim", STAGE,
    )  # fmt: skip
    _cli("run", str(full / "skims"), "--analysis", "invisible", "--out", str(again))
    return {"full": full, "again": again, "skims": full / "skims"}


def _keys(arrays: dict) -> np.ndarray:
    """One int per event of a one-run file: (spill, event) (event numbers restart per spill)."""
    return arrays["spill"].astype(np.int64) * 10**9 + arrays["event"]


def _hidden(path: Path, processor: SelectionProcessor) -> tuple[np.ndarray, np.ndarray, dict]:
    """(event keys, the processor's hidden mask, the cut masks) of a one-run file."""
    arrays = open_event_file(path).arrays()
    run = int(arrays["run"][0])
    assert (arrays["run"] == run).all()
    cset = processor.calibration.for_run(run)
    variables = reconstruct_event(arrays, cset)
    masks = cut_masks(processor.cutset, variables, period_of_run(run).name)
    return _keys(arrays), processor.hidden_mask(arrays, run, cset, variables, masks), masks


def _processor() -> SelectionProcessor:
    return SelectionProcessor(resolve_cutset("invisible"), load_calibration(calibration_path()))


def test_skim_gives_the_same_cutflow_from_the_stage_on(skimmed):
    full, again = _summary(skimmed["full"]), _summary(skimmed["again"])
    stages = list(full["cutflow"]["2016"])
    after = stages[stages.index(STAGE) :]
    assert sorted(again["cutflow"]) == sorted(full["cutflow"]) == ["2016", "2022"]
    for period, flow in full["cutflow"].items():
        assert flow[STAGE] > 0
        assert {s: again["cutflow"][period][s] for s in after} == {s: flow[s] for s in after}
        # every skimmed event passes every cut before the stage too
        assert set(list(again["cutflow"][period].values())[: len(stages) - len(after)]) == {
            flow[STAGE]
        }
    assert sum(a["processed"] for a in again["accounting"]) == sum(
        f[STAGE] for f in full["cutflow"].values()
    )
    # the histograms of the stage are the same bin by bin
    with (
        uproot.open(skimmed["full"] / "histograms.root") as a,
        uproot.open(skimmed["again"] / "histograms.root") as b,
    ):
        for period in ("2016", "2022"):
            key = f"plane/{period}/{STAGE}"
            np.testing.assert_array_equal(a[key].values(flow=True), b[key].values(flow=True))


def test_skims_are_a_valid_fileset(skimmed, tmp_path):
    manifest = load_fileset(skimmed["skims"] / "fileset.json", verify_checksums=True)
    assert sorted(Path(f.path).name for f in manifest.files) == [
        "skim_na64sim_2016_physics_run01800.root",
        "skim_na64sim_2022_physics_run06035.root",
    ]
    _cli("fileset", str(skimmed["skims"]), "--out", str(tmp_path / "fileset.json"))
    rebuilt = load_fileset(tmp_path / "fileset.json")
    assert [(f.kind, f.period, f.events, f.sha256) for f in rebuilt.files] == [
        (f.kind, f.period, f.events, f.sha256) for f in manifest.files
    ]


def test_skim_metadata_names_its_origin(skimmed):
    ef = open_event_file(skimmed["skims"] / "skim_na64sim_2022_physics_run06035.root")
    skim = ef.metadata["skim"]
    assert skim["stage"] == STAGE
    assert skim["blinded"] is True
    assert skim["cutset"]["name"] == "invisible"
    (origin,) = skim["inputs"]
    assert Path(origin["path"]).name == PHYSICS_2022.name
    assert origin["sha256"] == sha256_file(PHYSICS_2022)
    assert (
        origin["selected"] == ef.num_entries == _summary(skimmed["full"])["cutflow"]["2022"][STAGE]
    )
    assert skim["exposure_fraction"] == 1.0
    # every raw branch and the MC truth of the simulated input
    assert ef.mc_branches == open_event_file(PHYSICS_2022).mc_branches


def test_skim_events_are_the_input_events(skimmed):
    skim = open_event_file(skimmed["skims"] / "skim_na64sim_2022_physics_run06035.root").arrays()
    source = open_event_file(PHYSICS_2022).arrays()
    keys = _keys(source)
    order = np.argsort(keys)
    rows = order[np.searchsorted(keys, _keys(skim), sorter=order)]
    np.testing.assert_array_equal(keys[rows], _keys(skim))
    for name, value in skim.items():
        expected = source[name][rows]
        if isinstance(value, ak.Array):
            assert ak.to_list(value) == ak.to_list(expected), name
        else:
            np.testing.assert_array_equal(value, expected, err_msg=name)


def test_skim_never_holds_a_blinded_event(skimmed):
    processor = _processor()
    for path in sorted(skimmed["skims"].glob("*.root")):
        _, hidden, _ = _hidden(path, processor)
        assert not hidden.any(), path.name
        source = SAMPLES / path.name.removeprefix("skim_")
        events, hidden_source, _ = _hidden(source, processor)
        skim_events = _keys(open_event_file(path).arrays(["spill", "event"]))
        assert not np.isin(skim_events, events[hidden_source]).any()


def test_skim_at_all_drops_exactly_the_blinded_events(tmp_path):
    """The shipped sample has no hidden event passing ``veto``; at ``all`` it has 94 in the
    2022 run: the skim holds every other event and none of them."""
    _cli(
        "run", str(PHYSICS_2022), "--analysis", "invisible", "--out", str(tmp_path / "out"),
        "--skim", "all",
    )  # fmt: skip
    events, hidden, _ = _hidden(PHYSICS_2022, _processor())
    assert hidden.sum() > 0
    (skim,) = (tmp_path / "out" / "skims").glob("*.root")
    got = _keys(open_event_file(skim).arrays(["spill", "event"]))
    np.testing.assert_array_equal(got, events[~hidden])


def test_uproot_writeable_keeps_every_detector(skimmed, tmp_path):
    """coffea's route: NanoEvents -> ``NA64Schema.uproot_writeable`` -> uproot ``mktree`` /
    ``extend`` writes a valid event file with every branch (coffea's generic version kept only
    run, spill, event and trigger)."""
    path = skimmed["skims"] / "skim_na64sim_2022_physics_run06035.root"
    source = open_event_file(path)
    events = NanoEventsFactory.from_root({str(path): "events"}, schemaclass=NA64Schema).events()
    batch = NA64Schema.uproot_writeable(events)
    out = tmp_path / "rewritten.root"
    with uproot.recreate(out) as f:
        f.mktree("events", {k: _branch_type(v) for k, v in batch.items()})
        f["events"].extend(batch)
        f["na64_metadata"] = json.dumps(source.metadata)
    rewritten = open_event_file(out)
    assert rewritten.mc_branches == source.mc_branches
    expected, got = source.arrays(), rewritten.arrays()
    assert set(got) == set(expected)
    for name, value in expected.items():
        if isinstance(value, ak.Array):
            assert ak.to_list(got[name]) == ak.to_list(value), name
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)
            assert got[name].dtype == value.dtype, name


def _branch_type(value):
    """uproot's ``mktree`` type of a batch entry: a fixed array's dtype with its shape, a hit
    record's awkward type (uproot writes ``mm_<field>`` with the counter ``nmm``)."""
    if isinstance(value, ak.Array):
        return value.type
    value = np.asarray(value)
    return np.dtype((value.dtype, value.shape[1:])) if value.ndim > 1 else value.dtype


def test_root_reads_skims_and_histograms(skimmed):
    skims = sorted(skimmed["skims"].glob("*.root"))
    spec = {
        "trees": [
            {"path": str(p), "draw": ["ecal_amp[0][2][2]", "mm_strip", "event"]} for p in skims
        ],
        "histograms": [str(skimmed["full"] / "histograms.root")],
    }
    out = run_root(spec, skimmed["full"])
    for path in skims:
        tree = out["trees"][str(path)]
        ef = open_event_file(path)
        ours = ef.arrays(["ecal_amp", "mm", "event"])
        assert tree["entries"] == ef.num_entries > 0
        assert json.loads(tree["metadata"]) == ef.metadata
        np.testing.assert_array_equal(
            tree["draw"]["ecal_amp[0][2][2]"], ours["ecal_amp"][:, 0, 2, 2]
        )
        assert tree["draw"]["mm_strip"] == ak.to_list(ak.flatten(ours["mm"].strip))
        assert tree["draw"]["event"] == ours["event"].tolist()
    integrals = out["histograms"][str(skimmed["full"] / "histograms.root")]
    ours = {
        k: float(h.values(flow=True).sum())
        for k, h in flat_histograms(read_histograms(skimmed["full"] / "histograms.json")).items()
    }
    flow = _summary(skimmed["full"])["cutflow"]
    # the cutflow TH1 of each period: one bin per reported (non-null) stage
    for period, counts in flow.items():
        shown = sum(n for n in counts.values() if n is not None)
        assert integrals.pop(f"cutflow/{period}") == shown, period
    assert integrals.keys() == ours.keys()
    assert integrals == pytest.approx(ours, rel=0, abs=0)
    for period, counts in flow.items():
        for stage, n in counts.items():
            if n is not None:
                assert integrals[f"plane/{period}/{stage}"] == n, (period, stage)


def test_skim_copy_is_still_an_input(skimmed, tmp_path):
    """A skim handed to a colleague (copied elsewhere) is a file of its own: fileset + run."""
    src = skimmed["skims"] / "skim_na64sim_2016_physics_run01800.root"
    shutil.copy(src, tmp_path / src.name)
    _cli("run", str(tmp_path / src.name), "--analysis", "invisible", "--out", str(tmp_path / "o"))
    assert (
        _summary(tmp_path / "o")["cutflow"]["2016"][STAGE]
        == _summary(skimmed["full"])["cutflow"]["2016"][STAGE]
    )


def test_skims_of_a_period_merge_to_a_target_size(tmp_path):
    """Two 2022 runs, ``--skim-target-mb 100``: one skim of both, the same cutflow from veto."""
    sample = tmp_path / "sample"
    for seed, first_run in ((5, "6100"), (6, "6200")):
        _cli(
            "simulate", "--period", "2022", "--eot", "4e6", "--seed", str(seed),
            "--first-run", first_run, "--out", str(sample),
        )  # fmt: skip
    full, again = tmp_path / "full", tmp_path / "again"
    _cli(
        "run", str(sample), "--analysis", "invisible", "--out", str(full), "--skim", STAGE,
        "--skim-target-mb", "100",
    )  # fmt: skip
    (skim,) = (full / "skims").glob("*.root")
    assert skim.name == "skim_2022_000.root"
    ef = open_event_file(skim)
    assert sorted(Path(i["path"]).name for i in ef.metadata["skim"]["inputs"]) == [
        "na64sim_2022_physics_run06100.root",
        "na64sim_2022_physics_run06200.root",
    ]
    assert set(np.unique(ef.arrays(["run"])["run"]).tolist()) <= {6100, 6200}
    _cli(
        "run", str(full / "skims" / "fileset.json"), "--analysis", "invisible", "--out", str(again)
    )
    flow, flow_again = _summary(full)["cutflow"]["2022"], _summary(again)["cutflow"]["2022"]
    assert flow[STAGE] == ef.num_entries > 0
    assert flow_again[STAGE] == flow[STAGE]
