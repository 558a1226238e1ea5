"""Identical outputs whatever the executor, chunk size and worker count; the simulation is
reproducible from its seed (and serial and parallel simulation agree).

Run outputs are compared exactly (``assert_same_results``: every histogram bin and variance, the
cutflow, the accounting, the sorted sideband list): the histograms hold integer counts with unit
weights, so the order in which chunks are summed cannot change them; no tolerance is needed.
"""

from __future__ import annotations

import pytest
from _reliability import (
    assert_same_results,
    load_outputs,
    physics_entries,
    reclustered,
    run_analysis,
    write_manifest,
)

from na64reco.eventtree import content_digest
from na64reco.sim.run import SimRequest, simulate

CLUSTER = 150  # the shipped physics files in clusters of 150 events: 14 + 10 clusters


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    """The re-clustered physics files and their run in one chunk per file (the reference)."""
    tmp = tmp_path_factory.mktemp("determinism")
    manifest = write_manifest(tmp, [reclustered(e, tmp, CLUSTER) for e in physics_entries()])
    ref = tmp / "reference"
    summary = run_analysis(manifest, "invisible", ref, quiet=True, make_plots=False)
    assert summary["metrics"]["chunks"] == 2  # chunksize 100 000: each file is one chunk
    return {"manifest": manifest, "reference": ref}


def _run(sample: dict, out, **options) -> dict:
    return run_analysis(
        sample["manifest"], "invisible", out, quiet=True, make_plots=False, **options
    )


@pytest.mark.parametrize(("chunksize", "chunks"), [(150, 24), (450, 9), (1000, 4)])
def test_chunk_size_does_not_change_results(sample, tmp_path, chunksize, chunks):
    """Chunks of one or several clusters (coffea never splits one) give the same outputs."""
    summary = _run(sample, tmp_path / "out", chunksize=chunksize)
    assert summary["metrics"]["chunks"] == chunks
    assert_same_results(tmp_path / "out", sample["reference"])


@pytest.mark.parametrize(("workers", "chunksize"), [(1, 450), (2, 150)])
def test_futures_executor_any_worker_count(sample, tmp_path, workers, chunksize):
    summary = _run(sample, tmp_path / "f", executor="futures", workers=workers, chunksize=chunksize)
    assert summary["provenance"]["executor"] == {"name": "futures", "workers": workers}
    assert_same_results(tmp_path / "f", sample["reference"])


def test_dask_executor_gives_identical_results(sample, tmp_path):
    """A LocalCluster of 2 worker processes, started and closed by run_analysis; 24 chunks
    finished in whatever order the workers take them."""
    summary = _run(sample, tmp_path / "dask", executor="dask", workers=2, chunksize=CLUSTER)
    assert summary["provenance"]["executor"] == {
        "name": "dask",
        "scheduler": "LocalCluster",
        "workers": 2,
    }
    assert summary["metrics"]["chunks"] == 24
    assert_same_results(tmp_path / "dask", sample["reference"])


def test_reference_is_not_trivial(sample):
    """The comparisons above compare something: events in the histograms and the list."""
    summary, hists, csv = load_outputs(sample["reference"])
    assert summary["cutflow"]["2016"]["all"] > 1000
    assert hists["plane"].sum(flow=True) > 1000
    assert len(csv) > 1


def test_simulation_reproducible_from_seed(tmp_path):
    """Same seed: the same content (content_digest: every branch and the metadata); another
    seed: other content. (Serial and parallel simulation agree because every run has its own
    seed sequence: tests/test_sim_run.py::test_run_content_is_independent_of_other_runs.)"""
    request = SimRequest(period="2016", eot=5e7, seed=11)
    (first,) = simulate(request, tmp_path / "a")
    (again,) = simulate(request, tmp_path / "b")
    (other,) = simulate(SimRequest(period="2016", eot=5e7, seed=12), tmp_path / "c")
    assert content_digest(first["path"]) == content_digest(again["path"])
    assert content_digest(other["path"]) != content_digest(first["path"])
