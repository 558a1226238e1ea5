"""Run outputs with declared variations (issue 19): the plain outputs unchanged byte for byte,
the cutflow TH1 and the name__up/__down histograms in histograms.root, variations.json blinded
as the nominal cutflow, and the per-period nuisances in the limit inputs' shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import uproot

from na64reco.background.build import build_background
from na64reco.cutsets import load_cutset
from na64reco.run import run_analysis, run_signal_efficiency
from na64reco.shipped import sample_fileset_path
from na64reco.systematics.config import load_systematics, systematics_path
from na64reco.systematics.nuisances import Nuisance

OPTIONS = dict(quiet=True, make_plots=False, checkpoint=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("syst_runs")
    plain = base / "plain"
    varied = base / "varied"
    run_analysis(sample_fileset_path(), "invisible", plain, **OPTIONS)
    run_analysis(
        sample_fileset_path(),
        "invisible",
        varied,
        systematics=systematics_path("invisible"),
        **OPTIONS,
    )
    return plain, varied


def test_plain_outputs_unchanged_by_declared_variations(runs):
    plain, varied = runs
    for name in ("histograms.json", "sideband_events.csv"):
        assert (plain / name).read_bytes() == (varied / name).read_bytes(), name
    a = json.loads((plain / "summary.json").read_text())
    b = json.loads((varied / "summary.json").read_text())
    assert a["cutflow"] == b["cutflow"]
    assert not (plain / "variations.json").exists()
    assert a["outputs"]["variations"] is None
    assert a["outputs"]["variation_histograms"] == []
    with (
        uproot.open(plain / "histograms.root") as fa,
        uproot.open(varied / "histograms.root") as fb,
    ):
        for key in a["outputs"]["histograms"] + a["outputs"]["cutflow_histograms"]:
            assert (fa[key].values(flow=True) == fb[key].values(flow=True)).all(), key


def test_root_file_has_cutflow_and_variation_histograms(runs):
    _, varied = runs
    summary = json.loads((varied / "summary.json").read_text())
    cutset = load_cutset("invisible")
    with uproot.open(varied / "histograms.root") as f:
        for period, flow in summary["cutflow"].items():
            h = f[f"cutflow/{period}"]
            labels = list(h.axis().labels())
            # blinded stages are left out, not shown as an empty bin
            assert labels == [s for s, n in flow.items() if n is not None]
            assert not set(labels) & set(cutset.signal_box)
            assert h.values().tolist() == [float(flow[s]) for s in labels]
            for label in load_systematics("invisible").labels(("calibration", "cut")):
                assert f"ecal_sideband/{period}/{label}" in f, label
            nominal = f[f"ecal_sideband/{period}/nominal"]
            side = summary["cutflow"][period][cutset.cut_names[-3]]  # the last sideband stage
            assert nominal.values(flow=True).sum() == side
    assert sorted(summary["outputs"]["variation_histograms"])[0].startswith("ecal_sideband/")


def test_variations_document_is_blinded(runs):
    _, varied = runs
    doc = json.loads((varied / "variations.json").read_text())
    box = set(load_cutset("invisible").signal_box)
    assert set(doc["cutflow"]) == set(load_systematics("invisible").labels(("calibration", "cut")))
    for label, per_period in doc["cutflow"].items():
        for period, flow in per_period.items():
            for cut, n in flow.items():
                assert (n is None) == (cut in box), (label, period, cut)
    for per_period in doc["sideband"].values():
        for rows in per_period.values():
            assert all(len(r) == 2 for r in rows)


def test_nuisances_have_the_interface_shape(runs, tmp_path):
    """Each period's nuisances validate as the interface's item (pydantic, extra forbidden,
    factors finite and > 0); signal factors aligned with the masses of the limit inputs'
    tables; the same names in every period; weight variations act on signal only."""
    _, varied = runs
    eff = run_signal_efficiency(
        sample_fileset_path(), "invisible", systematics=systematics_path("invisible"), quiet=True
    )
    doc = build_background(
        [varied],
        tmp_path / "background.json",
        plots_dir=None,
        efficiencies=eff["rows"],
        limit_inputs=tmp_path / "limit_inputs.json",
        closure=False,
    )
    inputs = json.loads((tmp_path / "limit_inputs.json").read_text())
    names = None
    syst = load_systematics("invisible")
    kinds = {v.name: v.kind for v in syst.variations}
    for period, entry in zip(doc["periods"], inputs["periods"], strict=True):
        items = [Nuisance.model_validate(n) for n in period["nuisances"]]
        assert names is None or [n.name for n in items] == names
        names = [n.name for n in items]
        assert set(names) == set(kinds)
        masses = {t["model"]: t["masses_gev"] for t in entry["efficiencies"]}
        for n in items:
            assert n.source == kinds[n.name]
            assert (n.background is None) == (kinds[n.name] == "weight")
            assert n.eot is None
            for model, s in (n.signal or {}).items():
                assert len(s.up) == len(s.down) == len(masses[model])
                assert all(x > 0 for x in s.up + s.down)
    # the ECAL scale moves the A' efficiency (the box edge in E_ECAL)
    ecal = next(n for n in doc["periods"][0]["nuisances"] if n["name"] == "ecal_scale")
    assert ecal["signal"]["aprime"]["up"] != [1.0] * len(ecal["signal"]["aprime"]["up"])


def test_background_document_of_a_plain_run_has_no_variation_keys(runs, tmp_path):
    plain, _ = runs
    doc = build_background([plain], tmp_path / "b.json", plots_dir=None, closure=False)
    for period in doc["periods"]:
        assert "variations" not in period
        assert "nuisances" not in period
    assert Path(tmp_path / "b.json").exists()


def test_variations_read_the_data_once(runs):
    """The run with ten variations reads the same columns and the same bytes as the plain run
    (coffea's metrics): the variations work on the arrays in memory."""
    plain, varied = runs
    a = json.loads((plain / "summary.json").read_text())["metrics"]
    b = json.loads((varied / "summary.json").read_text())["metrics"]
    assert a["bytesread"] is not None
    assert a["bytesread"] > 0
    assert b["bytesread"] == a["bytesread"]
    assert sorted(b["columns"]) == sorted(a["columns"])
    assert b["chunks"] == a["chunks"]
