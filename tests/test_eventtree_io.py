"""Writer and reader: round trip, streaming layout, batch checks, digest, ROOT interop."""

from __future__ import annotations

import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import na64reco.eventtree as et
from na64reco.eventtree import (
    EventTreeWriter,
    content_digest,
    contract,
    open_event_file,
    read_metadata,
    write_events,
)
from na64reco.eventtree.metadata import encode_metadata

DATA = Path(__file__).parent / "data" / "eventtree"


def assert_batch_equal(expected: dict, got: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key in ("mm", "st"):
            assert got[key].fields == value.fields
            assert ak.all(ak.num(got[key]) == ak.num(value))
            for field in value.fields:
                a = ak.to_numpy(ak.flatten(got[key][field]))
                b = ak.to_numpy(ak.flatten(value[field]))
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))
        else:
            assert got[key].dtype == value.dtype, key
            assert got[key].shape == value.shape, key
            assert got[key].tobytes() == value.tobytes(), key  # bit-exact


def test_public_api():
    assert sorted(et.__all__) == sorted(
        [
            "KNOWN_SCHEMA_VERSIONS",
            "METADATA_KEYS",
            "SCHEMA_VERSION",
            "EventFile",
            "EventTreeWriter",
            "NA64Schema",
            "content_digest",
            "open_event_file",
            "read_metadata",
            "write_events",
        ]
    )
    for name in et.__all__:
        assert getattr(et, name) is not None


def test_round_trip_numpy(event_file, sample_metadata):
    path, batch = event_file
    ef = open_event_file(path)
    assert ef.path == path
    assert ef.num_entries == 300
    assert ef.metadata == {**sample_metadata, "schema_version": contract.SCHEMA_VERSION}
    assert ef.is_simulation
    assert_batch_equal(batch, ef.arrays())
    assert read_metadata(path) == ef.metadata


def test_round_trip_awkward_and_ranges(event_file):
    path, batch = event_file
    ef = open_event_file(path)
    arr = ef.arrays(["ecal_amp", "mm", "st_wire", "mc_e_miss"], 10, 20, library="ak")
    assert arr.fields == ["ecal_amp", "mc_e_miss", "mm", "st"]
    assert ak.to_numpy(arr.ecal_amp).tobytes() == batch["ecal_amp"][10:20].tobytes()
    assert arr.mm.tolist() == batch["mm"][10:20].tolist()
    assert arr.st.fields == ["wire"]
    assert arr.st.wire.tolist() == batch["st"].wire[10:20].tolist()
    with pytest.raises(KeyError, match="no branch 'nope'"):
        ef.arrays(["nope"])
    with pytest.raises(ValueError, match="library"):
        ef.arrays(library="pd")


def test_branch_types_seen_by_root(event_file):
    path, _ = event_file
    with uproot.open(path) as f:
        tree = f["events"]
        titles = {b.name: b.member("fLeaves")[0].member("fTitle") for b in tree.branches}
        assert f["na64_metadata"].classname == "TObjString"
    assert titles["ecal_amp"] == "ecal_amp[2][6][6]"
    assert titles["hcal_t"] == "hcal_t[4][3][3]"
    assert titles["mm_strip"] == "mm_strip[nmm]"
    assert titles["st_wire"] == "st_wire[nst]"
    assert titles["nmm"] == "nmm"
    expected_branches = (
        [b.name for b in contract.FIXED_BRANCHES]
        + [b.name for b in contract.MC_BRANCHES]
        + ["nmm"]
        + [b.name for b in contract.JAGGED_BRANCHES if b.collection == "mm"]
        + ["nst"]
        + [b.name for b in contract.JAGGED_BRANCHES if b.collection == "st"]
    )
    assert list(titles) == expected_branches


def test_real_data_without_mc(tmp_path, make_batch):
    batch = make_batch(40, seed=2)
    path = write_events(tmp_path / "data.root", batch, {"period": "2023B"})
    ef = open_event_file(path)
    assert not ef.is_simulation
    assert ef.mc_branches == []
    assert_batch_equal(batch, ef.arrays())


def test_streaming_clusters(tmp_path, make_batch):
    # one run per batch: the events of one run must have distinct ids (the reader checks)
    batches = [make_batch(n, seed=s, run=9000 + s) for s, n in enumerate([70, 0, 130, 45])]
    path = tmp_path / "stream.root"
    with EventTreeWriter(path, {"seed": 3}, cluster_size=100, compression="lz4") as w:
        for b in batches:
            w.extend(b)
    assert w.num_entries == 245
    with uproot.open(path) as f:
        tree = f["events"]
        for branch in tree.branches:
            assert list(branch.entry_offsets) == [0, 100, 200, 245], branch.name
    got = open_event_file(path).arrays()
    expected = {}
    for key in batches[0]:
        parts = [b[key] for b in batches]
        expected[key] = ak.concatenate(parts) if key in ("mm", "st") else np.concatenate(parts)
    assert_batch_equal(expected, got)


def test_casting_to_contract_dtypes(tmp_path, make_batch):
    batch = make_batch(10, seed=1)
    batch["run"] = batch["run"].astype("i8")
    batch["ecal_amp"] = batch["ecal_amp"].astype("f8")
    mm = batch["mm"]
    batch["mm"] = ak.zip(
        {
            f: ak.values_astype(mm[f], np.int64) if f in ("station", "strip") else mm[f]
            for f in mm.fields
        }
    )
    ef = open_event_file(write_events(tmp_path / "c.root", batch, {}))
    got = ef.arrays(["run", "ecal_amp", "mm"])
    assert got["run"].dtype == np.int32
    assert got["ecal_amp"].dtype == np.float32
    assert str(got["mm"].type.content.content.contents[0]) == "uint8"
    assert str(got["mm"].type.content.content.contents[2]) == "uint16"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("srd_t"), "missing branches: \\['srd_t'\\]"),
        (lambda b: b.pop("mm"), "missing branches: \\['mm'\\]"),
        (lambda b: b.update(ecal_amp=b["ecal_amp"][:, 0]), "'ecal_amp': shape \\(10, 6, 6\\)"),
        (lambda b: b.update(spill=b["spill"][:5]), "'spill': shape \\(5,\\), expected \\(10,\\)"),
        (lambda b: b.update(extra=b["run"]), "not in the contract: \\['extra'\\]"),
        (lambda b: b.update(run=b["run"] + 0.5), "'run': float values cannot be stored"),
        (lambda b: b.update(trigger=b["run"] * 100), "'trigger': values in .* do not fit"),
        (lambda b: b.update(mm=b["mm"][["station", "plane"]]), "collection 'mm': fields"),
        (lambda b: b.update(st=b["st"][:3]), "collection 'st': 3 events, expected 10"),
        (
            lambda b: b.update(
                mm=ak.zip(
                    {
                        f: ak.values_astype(b["mm"][f], np.int64) + (300 if f == "station" else 0)
                        for f in b["mm"].fields
                    }
                )
            ),
            "'mm_station': values in .* do not fit uint8",
        ),
    ],
)
def test_bad_batch_rejected(tmp_path, make_batch, change, message):
    batch = make_batch(10, seed=1)
    change(batch)
    path = tmp_path / "bad.root"
    with pytest.raises(ValueError, match=message):
        write_events(path, batch, {})
    assert not path.exists()  # the incomplete file is removed


def test_mc_branch_set_must_not_change(tmp_path, make_batch):
    writer = EventTreeWriter(tmp_path / "m.root", {})
    writer.extend(make_batch(5, seed=1, mc=True))
    with pytest.raises(ValueError, match="MC branches"):
        writer.extend(make_batch(5, seed=2))
    writer.close()


def test_metadata_rules(tmp_path, make_batch):
    with pytest.raises(ValueError, match="schema_version 2"):
        EventTreeWriter(tmp_path / "x.root", {"schema_version": 2})
    with pytest.raises(ValueError, match="not valid JSON"):
        EventTreeWriter(tmp_path / "x.root", {"eot": float("nan")})
    with pytest.raises(ValueError, match="compression"):
        EventTreeWriter(tmp_path / "x.root", {}, compression="brotli")
    md = {"seed": np.int64(4), "calib": (1.0, np.float32(2.0)), "path": Path("/a")}
    w = EventTreeWriter(tmp_path / "x.root", md)
    assert w.metadata == {"seed": 4, "calib": [1.0, 2.0], "path": "/a", "schema_version": 1}
    with w:
        w.extend(make_batch(3, seed=1))
    assert read_metadata(tmp_path / "x.root") == w.metadata


def test_content_digest(tmp_path, make_batch):
    md = {"seed": 11}
    a = write_events(tmp_path / "a.root", make_batch(100, seed=11), md)
    b = write_events(tmp_path / "b.root", make_batch(100, seed=11), md)
    c = write_events(tmp_path / "c.root", make_batch(100, seed=12), md)
    d = write_events(tmp_path / "d.root", make_batch(100, seed=11), {"seed": 12})
    e = write_events(tmp_path / "e.root", make_batch(100, seed=11), md, compression="zlib")
    # uproot stamps times and a UUID into the headers: identical input, different bytes
    assert a.read_bytes() != b.read_bytes()
    digest = content_digest(a)
    assert len(digest) == 64
    assert digest == content_digest(b) == content_digest(e)
    assert digest != content_digest(c)
    assert digest != content_digest(d)


def test_reads_file_written_by_root():
    """tests/data/eventtree/root_written.root was written by PyROOT (make_root_written.py)."""
    ef = open_event_file(DATA / "root_written.root")
    assert ef.num_entries == 5
    assert ef.metadata["period"] == "2023B"
    got = ef.arrays()
    assert got["event"].tolist() == [0, 1, 2, 3, 4]
    assert got["ecal_amp"][:, 1, 2, 3].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert got["mm"].strip.tolist() == [[], [10], [10, 11], [10, 11, 12], [10, 11, 12, 13]]
    assert got["st"].wire.tolist() == [[7]] * 5


def test_root_opens_our_file(event_file):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the PyPI ROOT wheel warns it is alpha
        import ROOT  # the test extra installs ROOT (PyPI ``root``): no skip
    path, batch = event_file
    f = ROOT.TFile.Open(str(path))
    tree = f.Get("events")
    assert tree.GetEntries() == 300
    assert tree.GetLeaf("ecal_amp").GetTitle() == "ecal_amp[2][6][6]"
    n = tree.Draw("ecal_amp[1][2][3]", "", "goff")
    values = np.array([tree.GetV1()[i] for i in range(n)])
    np.testing.assert_array_equal(values, batch["ecal_amp"][:, 1, 2, 3])
    assert tree.Draw("mm_strip", "", "goff") == int(ak.sum(ak.num(batch["mm"])))
    assert f.Get("na64_metadata").GetString().Data() == encode_metadata(
        open_event_file(path).metadata
    )
    f.Close()
