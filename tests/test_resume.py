"""Interrupted runs: killed (SIGKILL) or interrupted (SIGINT) mid-run, then resumed from the
chunk checkpoints; the resumed outputs equal an uninterrupted run's; stale checkpoints unused."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _reliability import (
    assert_same_results,
    physics_entries,
    reclustered,
    run_analysis,
    write_manifest,
)
from click.testing import CliRunner

from na64reco.cli import main
from na64reco.run.checkpoint import ChunkCheckpointer

CLUSTER = 150  # events per cluster: 14 + 10 chunks on the shipped physics files
CHUNKS = 24
SELECTIONS = Path(__file__).resolve().parents[1] / "selections"


@pytest.fixture(scope="module")
def many_chunks(tmp_path_factory) -> dict:
    """The shipped physics files re-written in small clusters, and an uninterrupted run."""
    tmp = tmp_path_factory.mktemp("resume")
    manifest = write_manifest(tmp, [reclustered(e, tmp, CLUSTER) for e in physics_entries()])
    ref = tmp / "reference"
    summary = run_analysis(
        manifest, "invisible", ref, chunksize=CLUSTER, quiet=True, make_plots=False
    )
    assert summary["metrics"]["chunks"] == CHUNKS
    assert summary["resume"] is None  # no checkpoints unless asked for
    return {"tmp": tmp, "manifest": manifest, "reference": ref}


def _chunk_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.ckpt"))


# `na64` with every chunk slowed by 0.1 s, so that the signal surely lands mid-run (a chunk of
# 150 events takes ~10 ms: without the delay the run can end before the signal arrives)
SLOW_MAIN = (
    "import signal, time\n"
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the tests run in the
    # background (a background shell starts its children with SIGINT ignored)
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from na64reco.processors import selection\n"
    "process = selection.SelectionProcessor.process\n"
    "def slow(self, events):\n"
    "    time.sleep(0.1)\n"
    "    return process(self, events)\n"
    "selection.SelectionProcessor.process = slow\n"
    "from na64reco.cli import main\n"
    "main()\n"
)


def _start_and_interrupt(d: dict, out: Path, sig: int) -> int:
    """``na64 run`` in a subprocess, stopped with ``sig`` once 3 chunks are checkpointed;
    returns the number of chunk checkpoints left behind."""
    # a complete set of outputs of an earlier run in the folder: must not survive the new
    # run's start (the folder's previous set is removed before any chunk is processed)
    shutil.copytree(d["reference"], out)
    cmd = [sys.executable, "-c", SLOW_MAIN, "-q", "run",
           str(d["manifest"]), "--analysis", "invisible", "--out", str(out),
           "--chunksize", str(CLUSTER), "--no-plots"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checkpoints = out / ".checkpoint"
    deadline = time.monotonic() + 60
    try:
        while len(_chunk_files(checkpoints)) < 3:
            assert proc.poll() is None, proc.communicate()[0].decode()
            assert time.monotonic() < deadline, "no checkpoint written in 60 s"
            time.sleep(0.01)
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, output  # interrupted, not finished
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()  # no complete-looking result
    assert not (out / "histograms.json").exists()  # nor any file of the earlier set
    done = len(_chunk_files(checkpoints))
    assert 3 <= done < CHUNKS
    return done


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_run_resumes_without_reprocessing(many_chunks, sig, tmp_path, caplog):
    d = many_chunks
    out = tmp_path / "run"
    done = _start_and_interrupt(d, out, sig)
    if sig == signal.SIGKILL:
        # the checkpoints of another configuration (here a cut set) are never used
        other_cuts = tmp_path / "invisible_other.toml"
        text = (SELECTIONS / "invisible.toml").read_text()
        assert "max = 4.0" in text
        other_cuts.write_text(text.replace("max = 4.0", "max = 5.0"))
        with caplog.at_level(logging.WARNING, logger="na64reco.run"):
            stale = run_analysis(d["manifest"], other_cuts, tmp_path / "other",
                                 chunksize=CLUSTER, resume=True,
                                 checkpoint_dir=out / ".checkpoint", quiet=True,
                                 make_plots=False)  # fmt: skip
        assert stale["resume"]["chunks_reused"] == 0
        assert stale["resume"]["chunks_processed"] == CHUNKS
        assert any("another cut set" in r.getMessage() for r in caplog.records)
        assert len(_chunk_files(out / ".checkpoint")) == done  # left alone, still resumable
    # resume: only the chunks without a checkpoint are processed
    result = CliRunner().invoke(
        main,
        ["-q", "run", str(d["manifest"]), "--analysis", "invisible", "--out", str(out),
         "--chunksize", str(CLUSTER), "--no-plots", "--resume"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resume"]["resumed"] is True
    assert summary["resume"]["chunks_reused"] == done
    assert summary["resume"]["chunks_processed"] == CHUNKS - done
    assert summary["metrics"]["entries"] == sum(e.events for e in physics_entries())
    assert_same_results(out, d["reference"])
    assert not (out / ".checkpoint").exists()  # removed once the outputs are complete


def test_checkpoint_of_another_chunk_or_key_is_not_used(many_chunks, tmp_path, caplog):
    """A renamed, tampered or damaged checkpoint file is ignored (the chunk is processed)."""
    d = many_chunks
    entry = physics_entries()[0]
    key = {"cutset": "a", "unblind": False}
    ck = ChunkCheckpointer(tmp_path, key, {entry.path: entry.sha256})
    ck.prepare(resume=False)
    meta = {"filename": entry.path, "entrystart": 0, "entrystop": 150}
    ck.save({"out": 1}, meta)
    assert ck.load(meta) == {"out": 1}
    other = {**meta, "entrystart": 150, "entrystop": 300}
    os.replace(ck.filepath(meta), ck.filepath(other))  # a file under another chunk's name
    with caplog.at_level(logging.WARNING, logger="na64reco.run"):
        assert ck.load(other) is None
        assert any("another chunk" in r.getMessage() for r in caplog.records)
        changed = ChunkCheckpointer(tmp_path, {**key, "unblind": True}, ck.file_sha256)
        changed.filepath(other).parent.mkdir(parents=True)
        shutil.copy(ck.filepath(other), changed.filepath(other))
        assert changed.load(other) is None  # the payload's key differs
        ck.filepath(other).write_bytes(b"truncated")
        assert ck.load(other) is None
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    # a new (not resumed) run starts from nothing: stale folders are removed
    ChunkCheckpointer(tmp_path, {"cutset": "b"}, ck.file_sha256).prepare(resume=False)
    assert not ck.root.exists()
    assert not d["reference"].joinpath(".checkpoint").exists()
