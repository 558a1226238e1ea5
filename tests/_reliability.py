"""Helpers shared by the reliability tests (faults, resume, determinism, blinding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from na64reco.checksums import sha256_file
from na64reco.eventtree import open_event_file, write_events
from na64reco.fileset import Fileset, load_fileset, write_fileset
from na64reco.run.outputs import read_histograms

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
MANIFEST = SAMPLE / "fileset.json"


def write_manifest(folder: Path, entries: list, name: str = "test") -> Path:
    path = folder / f"{name}.json"
    write_fileset(path, Fileset(name=name, files=entries))
    return path


def physics_entries() -> list:
    return [e for e in load_fileset(MANIFEST).files if e.kind == "physics"]


def reclustered(entry, folder: Path, cluster_size: int, **update):
    """A copy of a manifest entry's file written ``cluster_size`` events per ROOT cluster.

    The shipped files are one cluster each, and coffea (``align_clusters``) never splits a
    cluster: a copy with small clusters gives a run of many chunks on the same events.
    """
    efile = open_event_file(entry.path)
    path = folder / Path(entry.path).name
    write_events(path, efile.arrays(), efile.metadata, cluster_size=cluster_size)
    return entry.model_copy(update={"path": str(path), "sha256": sha256_file(path), **update})


def load_outputs(out: Path) -> tuple[dict, dict, list[str]]:
    summary = json.loads((out / "summary.json").read_text())
    hists = read_histograms(out / "histograms.json")
    csv = (out / "sideband_events.csv").read_text().splitlines()
    return summary, hists, csv


def assert_same_results(a: Path, b: Path) -> None:
    """Every histogram bin by bin (values and variances, flow bins included), the cutflow, the
    accounting and the sideband event list of two run outputs are identical.

    Exact equality, no tolerance: the histograms hold integer counts (Int64 storage, unit
    weights), so the order in which chunks are added cannot change a bin.
    """
    sa, ha, ca = load_outputs(a)
    sb, hb, cb = load_outputs(b)
    assert sa["cutflow"] == sb["cutflow"]
    assert sa["blinding"]["blinded"] == sb["blinding"]["blinded"]
    keep = ("path", "entries", "processed", "skipped", "reason")
    assert [{k: r[k] for k in keep} for r in sa["accounting"]] == [
        {k: r[k] for k in keep} for r in sb["accounting"]
    ]
    assert sa["sideband_events"] == sb["sideband_events"]
    assert ha["plane"].axes == hb["plane"].axes
    np.testing.assert_array_equal(ha["plane"].view(flow=True), hb["plane"].view(flow=True))
    np.testing.assert_array_equal(
        ha["plane"].variances(flow=True), hb["plane"].variances(flow=True)
    )
    assert ha["nminus1"].keys() == hb["nminus1"].keys()
    for cut in ha["nminus1"]:
        ga, gb = ha["nminus1"][cut], hb["nminus1"][cut]
        assert ga.axes == gb.axes
        np.testing.assert_array_equal(ga.view(flow=True), gb.view(flow=True))
        np.testing.assert_array_equal(ga.variances(flow=True), gb.variances(flow=True))
    assert ca == cb  # sorted by run, spill, event: identical text


def run_analysis(*args, **kwargs) -> dict:
    """``na64reco.run.run_analysis`` returning its summary as the JSON document it writes."""
    from na64reco.run import run_analysis as run

    return run(*args, **kwargs).model_dump(mode="json")
