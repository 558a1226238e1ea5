"""The standard plots: every PNG is written and non-empty, blinded and unblinded, offline."""

from __future__ import annotations

import socket

import hist
import numpy as np
import pytest

from na64reco.cutsets import load_cutset
from na64reco.plots import make_plots, plot_paths

PERIODS = ("2016", "2017", "2018", "2021", "2022")
# The selection processor's N-1 binning (processors/selection.py) for the invisible cut set
NMINUS1 = {
    "trigger_physics": (2, -0.5, 1.5),
    "momentum": (120, 70.0, 130.0),
    "srd_e": (120, 0.0, 0.12),
    "ecal_out_of_time": (100, 0.0, 50.0),
    "in_beam_cell": (2, -0.5, 1.5),
    "shower_chi2": (100, 0.0, 20.0),
    "n_mm_extra_upstream": (10, -0.5, 9.5),
    "veto_e": (100, 0.0, 0.04),
    "hcal_e": (120, 0.0, 120.0),
    "ecal_e": (150, 0.0, 150.0),
}
# A representative few (boolean, multi-condition, the blinded narrow and wide ones): every plot
# costs ~0.4 s, mostly the label placement's extra draw
N1_CUTS = ("trigger", "no_extra_charged", "hcal_zero", "box")


@pytest.fixture(scope="module")
def cutset():
    return load_cutset("invisible")


def _output(cutset, *, blinded: bool, periods=("2016", "2022")) -> dict:
    """A small output with the selection processor's layout, filled with fake events."""
    rng = np.random.default_rng(7)
    stages = ["all", *cutset.cut_names]
    plane = hist.Hist(
        hist.axis.StrCategory(list(PERIODS), name="period"),
        hist.axis.StrCategory(stages, name="stage", label="after cut"),
        hist.axis.Regular(150, 0, 150, name="ecal_e", label="E_ECAL [GeV]"),
        hist.axis.Regular(120, 0, 120, name="hcal_e", label="E_HCAL [GeV]"),
        storage=hist.storage.Int64(),
    )
    nminus1 = {}
    for cut in cutset.cuts:
        if cut.name not in N1_CUTS:
            continue
        var = cut.conditions[0].variable
        bins, lo, hi = NMINUS1[var]
        nminus1[cut.name] = hist.Hist(
            hist.axis.StrCategory(list(PERIODS), name="period"),
            hist.axis.Regular(bins, lo, hi, name=var, label=var),
            storage=hist.storage.Int64(),
        )
    cutflow = {}
    for period in periods:
        n = 3000
        ecal = rng.uniform(0, 100, n)
        hcal = np.clip(100 - ecal + rng.normal(0, 5, n), 0, None)
        flow = {}
        for i, stage in enumerate(stages):
            keep = max(n >> i, 1)
            plane.fill(period=period, stage=stage, ecal_e=ecal[:keep], hcal_e=hcal[:keep])
            flow[stage] = None if (blinded and stage in cutset.signal_box) else keep
        cutflow[period] = flow
        for h in nminus1.values():
            var = h.axes[1].name
            bins, lo, hi = NMINUS1[var]
            h.fill(period=period, **{var: rng.uniform(lo, hi, 200)})
    return {"plane": plane, "nminus1": nminus1, "cutflow": cutflow}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plotting must not touch the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("blinded", [True, False])
def test_make_plots_writes_every_png(tmp_path, cutset, blinded, no_network):
    output = _output(cutset, blinded=blinded, periods=("2022",))
    summary = {"analysis": "invisible", "blinding": {"blinded": blinded}}
    first_look = {p.name for p in make_plots(output, summary, tmp_path / "default", cutset)}
    assert not any(n.startswith("nminus1_") for n in first_look)  # the default set: no N-1
    paths = make_plots(output, summary, tmp_path, cutset, which="all")
    names = {p.name for p in paths}
    assert first_look < names
    for period in ("2022",):
        assert f"cutflow_{period}.png" in names
        assert f"plane_{period}_all.png" in names
        assert f"plane_{period}_veto.png" in names  # every cut but the signal-region ones
        assert (f"plane_{period}_box.png" in names) is (not blinded)
        for cut in N1_CUTS:
            assert f"nminus1_{cut}_{period}.png" in names
    assert not any("2016" in n for n in names)  # empty periods are skipped
    for p in paths:
        assert p.is_file()
        assert p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(plot_paths(tmp_path)) == sorted(paths)


def test_missing_keys_and_cutset_from_summary(tmp_path, cutset):
    """A bare summary (blinded assumed) with the cut set given; then the cut set taken from the
    summary; never without a cut set (the box and the cut values come from it)."""
    output = _output(cutset, blinded=True, periods=("2021",))
    del output["nminus1"]
    with pytest.raises(ValueError, match="needs the cut set"):
        make_plots(output, {}, tmp_path / "none")
    paths = make_plots(output, {}, tmp_path / "bare", cutset)
    names = {p.name for p in paths}
    assert names == {"cutflow_2021.png", "plane_2021_all.png", "plane_2021_veto.png"}
    assert all(p.stat().st_size > 1000 for p in paths)
    assert make_plots({}, {"blinding": {"blinded": False}}, tmp_path / "empty", cutset) == []
    assert plot_paths(tmp_path / "empty") == []

    del output["cutflow"]
    summary = {"analysis": "invisible", "blinding": {"blinded": False}, "cutset": cutset.as_dict()}
    paths = make_plots(output, summary, tmp_path / "unblinded")
    assert {p.name for p in paths} == {
        "plane_2021_all.png",
        "plane_2021_veto.png",
        "plane_2021_box.png",
    }
