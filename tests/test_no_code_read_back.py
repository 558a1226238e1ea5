"""Nothing read back executes code: a file someone hands you is data or it is refused.

A *payload* is a pickle that creates a marker file when unpickled (``Planted.__reduce__``);
``test_the_payload_is_live`` proves it does. Planted as ``histograms.json`` (or beside it as the
old ``histograms.pkl``) in a run folder, and as a chunk checkpoint (in place of the data, after a
valid header, or under the old ``.pkl.lz4`` name), it is read by ``na64 background`` and by a
resumed run: the marker never appears.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from pathlib import Path

import lz4.frame
import pytest
from _reliability import assert_same_results, physics_entries, run_analysis, write_manifest

from na64reco.background.build import build_background, load_run_output
from na64reco.errors import ConfigError
from na64reco.run import checkpoint as checkpoint_module
from na64reco.run.checkpoint import ChunkCheckpointer
from na64reco.run.outputs import read_histograms


class Planted:
    """Unpickled, it creates the folder ``marker`` (it could as well run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def payload(marker: Path) -> bytes:
    return pickle.dumps({"plane": Planted(marker), "nminus1": {}})


def test_the_payload_is_live(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(payload(marker))  # what pickle.load did with histograms.pkl
    assert marker.exists()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A blinded invisible run of the shipped physics files (no plots)."""
    tmp = tmp_path_factory.mktemp("readback")
    manifest = write_manifest(tmp, physics_entries())
    run_analysis(manifest, "invisible", tmp / "run", quiet=True, make_plots=False)
    return {"tmp": tmp, "manifest": manifest, "run": tmp / "run"}


def test_histograms_payload_executes_nothing(run_folder, tmp_path):
    marker = tmp_path / "ran"
    planted = tmp_path / "planted"
    shutil.copytree(run_folder["run"], planted)
    (planted / "histograms.pkl").write_bytes(payload(marker))  # the old name: never read
    doc = build_background([planted], tmp_path / "b.json", closure=False)
    assert doc["blinded"] is True
    assert not marker.exists()
    (planted / "histograms.json").write_bytes(payload(marker))  # in place of the data
    reads = (
        lambda: read_histograms(planted / "histograms.json"),
        lambda: load_run_output(planted),
        lambda: build_background([planted], tmp_path / "c.json", closure=False),
    )
    for read in reads:
        with pytest.raises(ConfigError) as info:
            read()
        assert info.value.path == str(planted / "histograms.json")
        assert "not a histograms JSON document" in info.value.problem
    assert not marker.exists()
    assert not (tmp_path / "c.json").exists()


def test_checkpoint_payload_executes_nothing(tmp_path, caplog):
    """A planted file under a chunk's checkpoint name, raw or after a valid header (the key
    and chunk of this run), is never decoded as code: the chunk is processed again."""
    marker = tmp_path / "ran"
    entry = physics_entries()[0]
    ck = ChunkCheckpointer(tmp_path / "ck", {"cutset": "a"}, {entry.path: entry.sha256})
    ck.prepare(resume=False)
    meta = {"filename": entry.path, "entrystart": 0, "entrystop": 150}
    ck.save({"out": {"n": 1}}, meta)
    assert ck.load(meta) == {"out": {"n": 1}}
    header = ck.filepath(meta).read_bytes().split(b"\n", 1)[0]
    with caplog.at_level(logging.WARNING, logger="na64reco.run"):
        for planted in (payload(marker), header + b"\n" + lz4.frame.compress(payload(marker))):
            ck.filepath(meta).write_bytes(planted)
            assert ck.load(meta) is None
    assert not marker.exists()
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 2


def test_resumed_run_with_planted_checkpoints_executes_nothing(run_folder, tmp_path, monkeypatch):
    """A run's checkpoints kept, then every one replaced by a payload behind its own valid
    header, and an old-format ``.pkl.lz4`` payload beside it: the resumed run decodes none,
    processes every chunk again and gives the same outputs."""
    marker = tmp_path / "ran"
    out, ckdir = tmp_path / "run", tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoint_module.ChunkCheckpointer, "remove", lambda self: None)
    run_analysis(run_folder["manifest"], "invisible", out, quiet=True, make_plots=False,
                 checkpoint=True, checkpoint_dir=ckdir)  # fmt: skip
    saved = sorted(ckdir.rglob("*.ckpt"))
    assert len(saved) == 2  # one chunk per shipped physics file
    for path in saved:
        header = path.read_bytes().split(b"\n", 1)[0]
        path.write_bytes(header + b"\n" + lz4.frame.compress(payload(marker)))
        old = path.with_name(path.name.replace(".ckpt", ".pkl.lz4"))
        old.write_bytes(lz4.frame.compress(payload(marker)))
    summary = run_analysis(run_folder["manifest"], "invisible", out, quiet=True, make_plots=False,
                           checkpoint=True, checkpoint_dir=ckdir, resume=True)  # fmt: skip
    assert summary["resume"]["chunks_reused"] == 0
    assert summary["resume"]["chunks_processed"] == 2
    assert not marker.exists()
    assert_same_results(out, run_folder["run"])


def test_the_checkpoint_codec_builds_data_only():
    """A processor output survives the codec (histograms, arrays, sets, bytes); an object
    array, an unknown tag or a malformed array is refused, never built."""
    import hist
    import numpy as np

    from na64reco.run import datacodec

    h = hist.Hist(
        hist.axis.StrCategory([], name="period", growth=True),
        hist.axis.Regular(4, 0.0, 4.0, name="x"),
        storage=hist.storage.Int64(),
    )
    h.fill(period="2016", x=[0.5, 1.5, 9.0])
    value = {"plane": h, "rows": [np.arange(6.0).reshape(2, 3)], "cols": {"a", "b"},
             "uuid": b"\x00\x01", "n": np.int64(3), "t": (1, "x")}  # fmt: skip
    back = datacodec.loads(datacodec.dumps(value))
    assert back["plane"] == h
    np.testing.assert_array_equal(back["rows"][0], value["rows"][0])
    assert (back["cols"], back["uuid"], back["n"], back["t"]) == (
        {"a", "b"},
        b"\x00\x01",
        3,
        (1, "x"),
    )
    with pytest.raises(TypeError):
        datacodec.encode(np.array([object()], dtype=object))
    for bad in ({"t": "nd", "dtype": "|O", "shape": [1], "b64": ""},
                {"t": "nd", "dtype": "<f8", "shape": [3], "b64": "AAAA"},
                {"t": "call", "v": ["os.system", "true"]}):  # fmt: skip
        with pytest.raises(datacodec.DecodeError):
            datacodec.decode(bad)
