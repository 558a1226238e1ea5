"""A Dask worker killed in the middle of a run: the run completes with the results of an
undisturbed run (the scheduler re-runs the lost tasks), or, when the scheduler allows no more
failures, stops with a clear error and writes nothing that looks like a result."""

from __future__ import annotations

import logging
import os
import signal
import threading
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

from na64reco.errors import NA64Error

pytestmark = pytest.mark.slow  # a Dask cluster and a worker restart: ~30 s

CLUSTER = 150  # 24 chunks on the shipped physics files
CHUNKS = 24
TASK_SECONDS = 0.1  # added to every chunk on the workers: the run outlasts the kill


def _slow_chunks(seconds: float) -> None:
    """Run on a worker: every chunk takes ``seconds`` longer (so a kill lands mid-run)."""
    from na64reco.processors.selection import SelectionProcessor

    original = getattr(SelectionProcessor, "_unpatched_process", SelectionProcessor.process)

    def process(self, events):
        time.sleep(seconds)
        return original(self, events)

    SelectionProcessor._unpatched_process = original
    SelectionProcessor.process = process


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A LocalCluster of 2 worker processes (with nannies, which restart a killed worker), the
    shipped physics files in 24 chunks and their undisturbed (iterative) run."""
    from distributed import Client, LocalCluster

    tmp = tmp_path_factory.mktemp("faults")
    manifest = write_manifest(tmp, [reclustered(e, tmp, CLUSTER) for e in physics_entries()])
    ref = tmp / "reference"
    run_analysis(manifest, "invisible", ref, chunksize=CLUSTER, quiet=True, make_plots=False)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            scheduler_port=0,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as lc,
        Client(lc) as client,
    ):
        yield {"tmp": tmp, "manifest": manifest, "reference": ref, "client": client}


def _kill_a_busy_worker(client, checkpoints: Path, record: dict) -> None:
    """Once 2 chunks are checkpointed, SIGKILL a worker that is processing a task."""
    deadline = time.monotonic() + 60
    while len(list(checkpoints.rglob("*.ckpt"))) < 2:
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    busy = [w for w, keys in client.processing().items() if keys]
    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
    record["chunks_done"] = len(list(checkpoints.rglob("*.ckpt")))
    os.kill(pid, signal.SIGKILL)
    record["pid"] = pid


def _run_with_a_kill(d: dict, out: Path) -> tuple[dict | None, BaseException | None, dict]:
    client = d["client"]
    client.wait_for_workers(2, timeout=60)
    client.run(_slow_chunks, TASK_SECONDS)
    record: dict = {}
    killer = threading.Thread(
        target=_kill_a_busy_worker, args=(client, out / ".checkpoint", record)
    )
    killer.start()
    summary = error = None
    try:
        summary = run_analysis(d["manifest"], "invisible", out, executor="dask",
                               scheduler=client.scheduler.address, chunksize=CLUSTER,
                               checkpoint=True, quiet=True, make_plots=False)  # fmt: skip
    except Exception as exc:  # judged by the caller
        error = exc
    killer.join(timeout=60)
    assert "pid" in record, "no worker was killed"
    assert record["chunks_done"] < CHUNKS  # the kill came in the middle of the run
    assert record["pid"] not in client.run(os.getpid).values()
    return summary, error, record


def test_killed_worker_tasks_rerun_results_identical(cluster, tmp_path):
    out = tmp_path / "out"
    summary, error, _ = _run_with_a_kill(cluster, out)
    assert error is None, error
    assert summary["resume"]["chunks_processed"] == CHUNKS
    assert_same_results(out, cluster["reference"])


def test_killed_worker_without_retries_fails_clearly(cluster, tmp_path):
    """With ``allowed-failures`` 0 the lost task is not re-run: a one-line NA64Error, no
    summary.json, the finished chunks checkpointed to resume the run."""
    client = cluster["client"]

    def set_allowed_failures(dask_scheduler, n):
        previous = dask_scheduler.allowed_failures
        dask_scheduler.allowed_failures = n
        return previous

    previous = client.run_on_scheduler(set_allowed_failures, n=0)
    out = tmp_path / "out"
    try:
        summary, error, _ = _run_with_a_kill(cluster, out)
    finally:
        client.run_on_scheduler(set_allowed_failures, n=previous)
    assert summary is None
    assert isinstance(error, NA64Error)
    assert "Dask workers died" in str(error)
    assert "finished chunks are checkpointed: resume the run" in str(error)
    assert not (out / "summary.json").exists()
    assert not (out / "histograms.json").exists()
    assert list((out / ".checkpoint").rglob("*.ckpt"))  # resumable


def test_warm_up_never_waits_for_a_lost_worker(cluster):
    """The Dask warm-up (one task per worker, started while the inputs are validated) whose
    worker is killed, and whose other task does not end: ``finish_warm_up`` returns after its
    timeout instead of waiting for the lost worker forever (the tasks may run on any worker)."""
    from types import SimpleNamespace

    from na64reco.run.executors import finish_warm_up, start_warm_up

    client = cluster["client"]
    client.wait_for_workers(2, timeout=60)
    slow = SimpleNamespace(process=lambda events: time.sleep(20))  # a warm-up that hangs
    futures = start_warm_up(SimpleNamespace(client=client), slow, physics_entries()[0].path)
    assert len(futures) == 2
    deadline = time.monotonic() + 30
    while not all(keys for keys in client.processing().values()):  # both warm-ups running
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = client.run(os.getpid)
    first = sorted(pids)[0]
    os.kill(pids[first], signal.SIGKILL)  # the worker of one warm-up is lost
    start = time.monotonic()
    finish_warm_up(futures, timeout_s=4.0)
    assert time.monotonic() - start < 8.0  # the timeout, not the lost worker, ends the wait
    for pid in client.run(os.getpid).values():  # leave two fresh workers (nannies restart them)
        os.kill(pid, signal.SIGKILL)
    client.wait_for_workers(2, timeout=60)
