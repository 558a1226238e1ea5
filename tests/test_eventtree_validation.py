"""Every way an input file can be bad gives an InputFileError naming file, item and problem."""

from __future__ import annotations

import json
import logging

import awkward as ak
import numpy as np
import pytest
import uproot

from na64reco.errors import InputFileError, SchemaVersionError
from na64reco.eventtree import EventTreeWriter, open_event_file, read_metadata, write_events

GOOD_METADATA = json.dumps({"schema_version": 1, "period": "2023B"})


def write_raw(path, batch, *, drop=(), override=None, metadata=GOOD_METADATA, tree="events"):
    """Write ``batch`` with plain uproot, bypassing the writer's checks."""
    data = {k: v for k, v in batch.items() if k not in drop}
    data.update(override or {})
    with uproot.recreate(path, compression=uproot.ZSTD(1)) as f:
        if metadata is not None:
            f["na64_metadata"] = metadata
        if data:
            types = {k: _branch_type(v) for k, v in data.items()}
            f.mktree(tree, types).extend(data)
    return path


def _branch_type(values):
    if isinstance(values, ak.Array):
        return values.type.content
    arr = np.asarray(values)
    return np.dtype((arr.dtype, arr.shape[1:])) if arr.ndim > 1 else arr.dtype


def raises_input_error(path, item, *problem_parts, exc=InputFileError):
    with pytest.raises(exc) as info:
        open_event_file(path)
    err = info.value
    assert err.path == str(path)
    assert err.item == item
    for part in problem_parts:
        assert part in err.problem
    assert str(path) in str(err)
    return err


@pytest.fixture
def batch(make_batch):
    return make_batch(50, seed=3)


def test_raw_writer_makes_a_valid_file(tmp_path, batch):
    ef = open_event_file(write_raw(tmp_path / "ok.root", batch))
    assert ef.num_entries == 50


def test_missing_file(tmp_path):
    raises_input_error(tmp_path / "nope.root", "file", "does not exist")


def test_text_file(tmp_path):
    path = tmp_path / "notes.root"
    path.write_text("run 1234: beam was fine\n")
    raises_input_error(path, "file", "not a ROOT file")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.root"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    raises_input_error(path, "file", "not a ROOT file")


def test_root_magic_then_garbage(tmp_path):
    path = tmp_path / "fake.root"
    path.write_bytes(b"root" + np.random.default_rng(2).bytes(4096))
    with pytest.raises(InputFileError) as info:
        open_event_file(path)
    assert info.value.path == str(path)
    assert info.value.item == "file"


@pytest.mark.parametrize("fraction", [0.00002, 0.0005, 0.01, 0.3, 0.6, 0.95, 0.9999])
def test_truncated_file(tmp_path, make_batch, fraction):
    good = tmp_path / "good.root"
    write_events(good, make_batch(2000, seed=5), {}, cluster_size=500)
    data = good.read_bytes()
    cut = max(int(len(data) * fraction), 40)
    path = tmp_path / "cut.root"
    path.write_bytes(data[:cut])
    raises_input_error(path, "file", "truncated", f"{cut} bytes on disk")


def test_file_cut_by_one_byte(tmp_path, batch):
    good = write_events(tmp_path / "good.root", batch, {})
    path = tmp_path / "cut.root"
    path.write_bytes(good.read_bytes()[:-1])
    raises_input_error(path, "file", "truncated")


def test_corrupted_basket_found_on_open(tmp_path, make_batch):
    good = write_events(tmp_path / "good.root", make_batch(200, seed=1), {})
    with uproot.open(good) as f:
        branch = f["events"]["ecal_amp"]
        seek = int(branch.member("fBasketSeek")[0])
        nbytes = int(branch.member("fBasketBytes")[0])
    data = bytearray(good.read_bytes())
    data[seek + nbytes // 2 : seek + nbytes - 8] = b"\x00" * (nbytes - 8 - nbytes // 2)
    path = tmp_path / "bad.root"
    path.write_bytes(bytes(data))
    raises_input_error(path, "tree events", "entry 0 unreadable")


def test_corrupted_middle_basket_found_on_read(tmp_path, make_batch):
    good = tmp_path / "good.root"
    write_events(good, make_batch(300, seed=1), {}, cluster_size=100)
    with uproot.open(good) as f:
        branch = f["events"]["hcal_amp"]
        seek = int(branch.member("fBasketSeek")[1])
    data = bytearray(good.read_bytes())
    data[seek : seek + 40] = b"\xff" * 40  # the basket's TKey header
    path = tmp_path / "bad.root"
    path.write_bytes(bytes(data))
    ef = open_event_file(path)  # first and last basket are fine
    with pytest.raises(InputFileError) as info:
        ef.arrays(["hcal_amp"])
    assert info.value.path == str(path)
    assert info.value.item == "tree events"
    assert "read failed" in info.value.problem


def test_no_events_tree(tmp_path, batch):
    path = write_raw(tmp_path / "f.root", {"run": batch["run"]}, tree="Events")
    err = raises_input_error(path, "tree events", "no TTree named events", "keys found")
    assert "Events (TTree)" in err.problem
    assert "na64_metadata (TObjString)" in err.problem


def test_events_is_an_rntuple(tmp_path, batch):
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        f["na64_metadata"] = GOOD_METADATA
        f["events"] = {"run": batch["run"]}  # uproot >= 5.7 writes an RNTuple here
    raises_input_error(path, "tree events", "events (ROOT::RNTuple)")


def test_events_is_not_a_tree(tmp_path):
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        f["events"] = "not a tree"
        f["na64_metadata"] = GOOD_METADATA
    raises_input_error(path, "tree events", "events (TObjString)")


def test_empty_tree_is_allowed_and_reported(tmp_path, sample_metadata, caplog):
    path = tmp_path / "empty.root"
    with EventTreeWriter(path, sample_metadata):
        pass
    with caplog.at_level(logging.WARNING, logger="na64reco.eventtree.reader"):
        ef = open_event_file(path)
    assert ef.num_entries == 0
    assert "no entries" in caplog.text
    arrays = ef.arrays()
    assert arrays["ecal_amp"].shape == (0, 2, 6, 6)
    assert len(arrays["mm"]) == 0


@pytest.mark.parametrize("branch", ["srd_t", "trigger", "mm_strip", "st_wire", "event"])
def test_missing_branch(tmp_path, batch, branch):
    data = dict(batch)
    if branch.startswith(("mm_", "st_")):
        coll, field = branch.split("_", 1)
        data[coll] = data[coll][[f for f in data[coll].fields if f != field]]
    else:
        del data[branch]
    path = write_raw(tmp_path / "f.root", data)
    raises_input_error(path, f"branch {branch}", "missing")


def test_missing_counter(tmp_path, batch):
    data = {k: v for k, v in batch.items() if k != "mm"}
    data.update({f"mm_{f}": batch["mm"][f] for f in batch["mm"].fields})  # own counters
    path = write_raw(tmp_path / "f.root", data)
    raises_input_error(path, "branch nmm", "missing")


def test_float64_ecal(tmp_path, batch):
    path = write_raw(
        tmp_path / "f.root", batch, override={"ecal_amp": batch["ecal_amp"].astype("f8")}
    )
    raises_input_error(path, "branch ecal_amp", "wrong type", "float64", "expected float32")


def test_wrong_shape_ecal(tmp_path, batch):
    path = write_raw(tmp_path / "f.root", batch, override={"ecal_amp": batch["ecal_amp"][:, 1]})
    raises_input_error(path, "branch ecal_amp", "wrong type", "shape [6, 6]", "shape [2, 6, 6]")


def test_scalar_instead_of_array(tmp_path, batch):
    path = write_raw(tmp_path / "f.root", batch, override={"srd_amp": batch["srd_amp"][:, 0]})
    raises_input_error(path, "branch srd_amp", "wrong type", "shape [3]")


def test_wrong_jagged_dtype(tmp_path, batch):
    mm = batch["mm"]
    fields = {f: mm[f] for f in mm.fields}
    fields["strip"] = ak.values_astype(mm.strip, np.int32)
    path = write_raw(tmp_path / "f.root", batch, override={"mm": ak.zip(fields)})
    raises_input_error(path, "branch mm_strip", "wrong type", "int32", "expected jagged uint16")


def test_wrong_counter_dtype(tmp_path, batch):
    data = {k: v for k, v in batch.items() if k != "mm"}
    data["nmm"] = ak.num(batch["mm"]).to_numpy().astype("i8")
    path = write_raw(tmp_path / "f.root", data)
    raises_input_error(path, "branch nmm", "wrong type", "int64", "expected int32")


def test_wrong_mc_type(tmp_path, make_batch):
    batch = make_batch(20, seed=1, mc=True)
    path = write_raw(
        tmp_path / "f.root", batch, override={"mc_e_miss": batch["mc_e_miss"].astype("f8")}
    )
    raises_input_error(path, "branch mc_e_miss", "wrong type", "float64")


def test_extra_branches_are_allowed(tmp_path, batch):
    extra = {"my_flag": np.ones(50, dtype="i4")}
    ef = open_event_file(write_raw(tmp_path / "f.root", batch, override=extra))
    assert "my_flag" in ef.branch_names
    assert ef.arrays(["my_flag"])["my_flag"].sum() == 50


def test_missing_metadata(tmp_path, batch):
    path = write_raw(tmp_path / "f.root", batch, metadata=None)
    raises_input_error(path, "na64_metadata", "missing", "TObjString")
    with pytest.raises(InputFileError, match="na64_metadata: missing"):
        read_metadata(path)


@pytest.mark.parametrize(
    ("text", "item", "problem"),
    [
        ("{schema_version: 1", "na64_metadata", "malformed JSON"),
        ("[1, 2]", "na64_metadata", "must be a JSON object, found list"),
        ('{"period": "2023B"}', "na64_metadata.schema_version", "missing"),
        ('{"schema_version": 1, "eot": "lots"}', "na64_metadata.eot", "must be int or float"),
        ('{"schema_version": 1, "seed": 1.5}', "na64_metadata.seed", "must be int"),
        ('{"schema_version": 1, "simulation": 1}', "na64_metadata.simulation", "must be bool"),
    ],
)
def test_malformed_metadata(tmp_path, batch, text, item, problem):
    path = write_raw(tmp_path / "f.root", batch, metadata=text)
    raises_input_error(path, item, problem)


@pytest.mark.parametrize("version", [2, 0, "1", 1.5, True])
def test_unknown_schema_version(tmp_path, batch, version):
    path = write_raw(tmp_path / "f.root", batch, metadata=json.dumps({"schema_version": version}))
    err = raises_input_error(
        path,
        "na64_metadata.schema_version",
        f"unknown schema version {version!r}",
        "known versions: 1",
        exc=SchemaVersionError,
    )
    assert isinstance(err, InputFileError)


def test_schema_version_checked_before_branches(tmp_path, batch):
    """A future-version file with other branches reports the version, not a branch."""
    path = write_raw(
        tmp_path / "f.root", batch, drop=("ecal_amp",), metadata='{"schema_version": 7}'
    )
    raises_input_error(path, "na64_metadata.schema_version", "7", exc=SchemaVersionError)


def test_metadata_not_a_string(tmp_path, batch):
    path = tmp_path / "f.root"
    write_raw(path, batch, metadata=None)
    with uproot.update(path) as f:
        f.mktree("na64_metadata", {"x": "i4"}).extend({"x": np.arange(3, dtype="i4")})
    raises_input_error(path, "na64_metadata", "is a TTree, expected TObjString")
