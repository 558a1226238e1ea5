"""``na64 run`` on an existing Dask cluster: a scheduler and two workers as separate processes.

The scheduler and the workers are started here with the ``dask`` command-line entry points, on
loopback, the way they are started on a batch node (docs/scale.md). The workers are plain
processes of the same Python environment: that is how they get na64reco. Results must equal the
iterative run's, the summary must name the scheduler, every process must be gone afterwards; an
unreachable scheduler, and workers that cannot import na64reco, must fail quickly with a message
naming the address (without the check, such workers die on the first task and the run hangs).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from _reliability import run_analysis
from click.testing import CliRunner

from na64reco.cli import main
from na64reco.errors import InputFileError, NA64Error
from na64reco.fileset import Fileset, load_fileset, write_fileset
from na64reco.run import executors
from na64reco.run.outputs import read_histograms

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
MANIFEST = SAMPLE / "fileset.json"
START_TIMEOUT_S = 40  # scheduler file written and both workers connected


def _load(out: Path) -> tuple[dict, dict, str]:
    summary = json.loads((out / "summary.json").read_text())
    hists = read_histograms(out / "histograms.json")
    return summary, hists, (out / "sideband_events.csv").read_text()


def _assert_same_results(ref: Path, other: Path) -> None:
    sa, ha, ca = _load(ref)
    sb, hb, cb = _load(other)
    assert sa["cutflow"] == sb["cutflow"]
    assert [(r["path"], r["processed"], r["skipped"]) for r in sa["accounting"]] == [
        (r["path"], r["processed"], r["skipped"]) for r in sb["accounting"]
    ]
    np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))
    assert ha["nminus1"].keys() == hb["nminus1"].keys()
    for cut in ha["nminus1"]:
        np.testing.assert_array_equal(
            ha["nminus1"][cut].view(flow=True), hb["nminus1"][cut].view(flow=True)
        )
    assert ca == cb


def _stop(procs: list[subprocess.Popen]) -> list[psutil.Process]:
    """Terminate the scheduler (first of ``procs``), the workers and their children.

    Returns the processes still alive afterwards (killed, for the caller to report).
    """
    tree = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # already stopped
            tree += [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
    # workers before the scheduler: a worker whose scheduler vanished mid-close hangs 8 s
    for group in (procs[1:], procs[:1]):
        for p in group:
            if p.poll() is None:
                p.terminate()
        for p in group:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
    _, alive = psutil.wait_procs(tree, timeout=10)
    for p in alive:  # a nanny's worker that outlived its parent: end it, report it
        p.kill()
    return alive


@contextlib.contextmanager
def _cluster(base: Path, workers: dict[str, list[str]]) -> Iterator[tuple[str, list]]:
    """A scheduler (port 0: a free one) and 1-thread workers (name -> extra arguments), found
    via a scheduler file; yields (address, processes, scheduler first), stops them all after."""
    from distributed import Client

    sched_file = base / "scheduler.json"
    with contextlib.ExitStack() as stack:
        logs = {
            name: stack.enter_context(open(base / f"{name}.log", "w"))
            for name in ("scheduler", *workers)
        }
        cli = [sys.executable, "-m"]
        procs: list[subprocess.Popen] = []
        try:
            procs.append(
                subprocess.Popen(
                    [*cli, "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                     "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                    stdout=logs["scheduler"], stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
            deadline = time.monotonic() + START_TIMEOUT_S
            while not sched_file.exists() or not sched_file.read_text().strip():
                assert procs[0].poll() is None, (base / "scheduler.log").read_text()
                assert time.monotonic() < deadline, "scheduler file not written"
                time.sleep(0.1)
            address = json.loads(sched_file.read_text())["address"]
            for name, extra in workers.items():
                procs.append(
                    subprocess.Popen(
                        [*cli, "distributed.cli.dask_worker", "--scheduler-file",
                         str(sched_file), "--nthreads", "1", "--nworkers", "1",
                         "--host", "127.0.0.1", "--no-dashboard", "--name", name,
                         "--local-directory", str(base / name), *extra],
                        stdout=logs[name], stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
            with Client(address, timeout=10) as client:
                client.wait_for_workers(len(workers), timeout=START_TIMEOUT_S)
            yield address, procs
        finally:
            _stop(procs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict]:
    """A scheduler and two workers of this interpreter's environment (they import na64reco)."""
    base = tmp_path_factory.mktemp("dask_cluster")
    with _cluster(base, {"w1": [], "w2": []}) as (address, procs):
        yield {"address": address, "procs": procs, "base": base}


@pytest.fixture(scope="module")
def iterative_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dask_ref") / "iterative"
    run_analysis(MANIFEST, "invisible", out, executor="iterative", quiet=True, make_plots=False)
    return out


def _tasks_per_worker(address: str) -> dict[str, int]:
    from distributed import Client

    def executed(dask_worker) -> int:
        return dask_worker.state.executed_count

    with Client(address, timeout=10) as client:
        return {
            v["name"]: n
            for addr, n in client.run(executed).items()
            for a, v in client.scheduler_info()["workers"].items()
            if a == addr
        }


def test_run_analysis_on_existing_scheduler(cluster, iterative_run, tmp_path):
    out = tmp_path / "dask"
    before = _tasks_per_worker(cluster["address"])
    summary = run_analysis(
        MANIFEST,
        "invisible",
        out,
        executor="dask",
        scheduler=cluster["address"],
        chunksize=500,
        quiet=True,
        make_plots=False,
    )
    assert summary["provenance"]["executor"] == {
        "name": "dask",
        "scheduler": cluster["address"],
        "workers": 2,
    }
    after = _tasks_per_worker(cluster["address"])
    assert sorted(after) == ["w1", "w2"]
    # the tasks ran on these workers (the shipped files are one ROOT cluster each: 2 chunks,
    # which the scheduler may well give to the same worker)
    assert sum(after.values()) - sum(before.values()) >= 2, (before, after)
    _assert_same_results(iterative_run, out)


def test_existing_cluster_validates_on_its_workers(cluster, tmp_path):
    """With --scheduler the files are checked by tasks on the workers (one per file), and a bad
    file is the same InputFileError, naming it, as when the client checks it."""
    summary = run_analysis(
        MANIFEST, "invisible", tmp_path / "ok", executor="dask", scheduler=cluster["address"],
        maxchunks=1, quiet=True, make_plots=False,
    )  # fmt: skip
    assert summary["provenance"]["validation"]["where"] == "dask workers"
    assert sum(summary["provenance"]["validation"]["checksums"].values()) == 2
    local = run_analysis(
        MANIFEST, "invisible", tmp_path / "local", maxchunks=1, quiet=True, make_plots=False
    )
    assert local["provenance"]["validation"]["where"] == "client"
    assert [i["sha256"] for i in summary["provenance"]["inputs"]] == [
        i["sha256"] for i in local["provenance"]["inputs"]
    ]

    entries = [e for e in load_fileset(MANIFEST).files if e.kind == "physics"]
    bad = entries[1].model_copy(update={"sha256": "0" * 64})
    manifest = tmp_path / "bad.json"
    write_fileset(manifest, Fileset(name="bad", files=[entries[0], bad]))
    with pytest.raises(InputFileError, match="checksum mismatch") as err:
        run_analysis(
            manifest, "invisible", tmp_path / "bad", executor="dask",
            scheduler=cluster["address"], quiet=True, make_plots=False,
        )  # fmt: skip
    assert err.value.path == bad.path
    assert err.value.item == "sha256"


def test_cli_run_on_existing_scheduler(cluster, iterative_run, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        main,
        ["-q", "run", str(MANIFEST), "--analysis", "invisible", "--out", str(out),
         "--executor", "dask", "--scheduler", cluster["address"], "--chunksize", "1000",
         "--no-plots"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["executor"]["scheduler"] == cluster["address"]
    assert summary["provenance"]["executor"]["workers"] == 2
    _assert_same_results(iterative_run, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_fails_quickly_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "SCHEDULER_CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(NA64Error, match=f"cannot connect to the Dask scheduler {address}"):
        run_analysis(
            MANIFEST, "invisible", tmp_path / "a", executor="dask", scheduler=address, quiet=True
        )
    assert time.monotonic() - t0 < 15
    result = CliRunner().invoke(
        main,
        ["-q", "run", str(MANIFEST), "--analysis", "invisible", "--out", str(tmp_path / "b"),
         "--executor", "dask", "--scheduler", address, "--no-plots"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"Error: cannot connect to the Dask scheduler {address}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "b" / "summary.json").exists()


def test_malformed_scheduler_address_is_a_clear_error(tmp_path):
    with pytest.raises(NA64Error, match="cannot connect to the Dask scheduler nosuch://x"):
        run_analysis(
            MANIFEST, "invisible", tmp_path, executor="dask", scheduler="nosuch://x", quiet=True
        )


def test_teardown_leaves_no_process(cluster, request):
    """Runs last in this module: stop the cluster now and check every process is gone."""
    procs = cluster["procs"]
    tree = [psutil.Process(p.pid) for p in procs]
    for p in procs:
        tree += psutil.Process(p.pid).children(recursive=True)
    assert len(tree) >= 5  # scheduler + 2 x (worker CLI/nanny + worker process)
    alive = _stop(procs)
    assert alive == []
    assert all(not p.is_running() for p in tree)
    assert all(p.returncode is not None for p in procs)


HIDE_NA64RECO = """
import sys


class _Hide:  # this worker's environment "has no na64reco"
    def find_spec(self, name, path=None, target=None):
        if name == "na64reco" or name.startswith("na64reco."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, _Hide())
"""


def test_worker_without_na64reco_is_a_clear_error(tmp_path):
    """Without the check such a worker dies unpickling the first task and the run hangs."""
    preload = tmp_path / "hide_na64reco.py"
    preload.write_text(HIDE_NA64RECO)
    with _cluster(tmp_path, {"bare": ["--preload", str(preload)]}) as (address, procs):
        with pytest.raises(NA64Error, match="cannot import na64reco") as info:
            run_analysis(
                MANIFEST,
                "invisible",
                tmp_path / "o",
                executor="dask",
                scheduler=address,
                quiet=True,
            )
        assert address in str(info.value)
        assert "No module named 'na64reco'" in str(info.value)
        assert all(p.poll() is None for p in procs)  # the worker survived the check
    assert not (tmp_path / "o" / "summary.json").exists()
