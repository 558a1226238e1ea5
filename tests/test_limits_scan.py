"""Mass scans, published inputs, the limit CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from na64reco.cli import main
from na64reco.errors import ConfigError
from na64reco.limit_inputs import load_limit_inputs
from na64reco.limits import scan as sc

PUBLISHED = Path(sc.__file__).parent / "published"


@pytest.fixture(scope="module")
def p002():
    return load_limit_inputs(PUBLISHED / "paper002.json")


OBSERVED = {"paper000": 0, "paper001": 0, "paper002": 0, "paper003": 0, "paper004": 3}
OBSERVED["aprime_2016_2022"] = 0


@pytest.mark.parametrize("name", sorted(OBSERVED))
def test_published_inputs_load_with_sources(name):
    inp = load_limit_inputs(PUBLISHED / f"{name}.json")
    assert not inp.blinded
    assert sum(p.observed for p in inp.periods) == OBSERVED[name]  # the papers' counts
    assert "_source" in inp.provenance
    assert all(p.beam_energy_gev == 100.0 for p in inp.periods)


def test_published_eot_totals_and_g2_measurements():
    inputs = {n: load_limit_inputs(PUBLISHED / f"{n}.json") for n in OBSERVED}
    tot = {n: sum(p.eot.value for p in i.periods) for n, i in inputs.items()}
    assert tot == pytest.approx(
        {
            "paper000": 2.84e11,
            "paper001": 9.1e11,
            "paper002": 2.75e9,
            "paper003": 2.84e11,
            "paper004": 2.84e11,
            "aprime_2016_2022": 9.37e11,
        }
    )
    # each paper's own Delta a_mu (paper 000 compares with Delta a_e, eqs. 1-2)
    dam = {n: i.provenance.get("delta_a_mu") for n, i in inputs.items()}
    assert dam["paper003"] == dam["paper004"] == pytest.approx([251e-11, 59e-11])
    assert dam["paper001"] == pytest.approx([249e-11, 48.3e-11], rel=1e-3)
    assert dam["paper002"][0] / dam["paper002"][1] == pytest.approx(3.6, abs=0.05)  # "3.6 sigma"


def test_beam_energy_and_box_edge_come_from_the_inputs(tmp_path):
    raw = json.loads((PUBLISHED / "aprime_2016_2022.json").read_text())
    for p in raw["periods"]:
        del p["beam_energy_gev"]  # schema v1 files without it: the run conditions of the name
    inp = load_limit_inputs_from(tmp_path, raw)
    assert [sc.period_beam_energy(p) for p in inp.periods] == [100.0] * 5
    res = sc.scan(inp, "aprime", [0.01], method="exact")
    assert res["settings"]["e_box_gev"] == [47.0, 50.0]  # 2021 has its own box edge
    assert res["settings"]["beam_energy_gev"] == [100.0]
    raw["periods"][3]["box"]["ecal_max_gev"] = 50.0  # 2021 at 50 GeV: a wider window
    wider = sc.scan(load_limit_inputs_from(tmp_path, raw), "aprime", [0.01], method="exact")
    assert wider["coupling"]["observed"][0] < res["coupling"]["observed"][0]
    raw["periods"][0]["period"] = "BGO"  # no conditions for that name and no beam energy
    with pytest.raises(ValueError, match=r"'BGO': no beam_energy_gev"):
        sc.scan(load_limit_inputs_from(tmp_path, raw), "aprime", [0.01])


def load_limit_inputs_from(tmp_path, raw):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(raw))
    return load_limit_inputs(path)


def test_cross_section_choice_and_the_former_k_factor_switch(p002):
    assert sc.resolve_cross_section() == "etl"
    assert sc.resolve_cross_section(k_factor=True) == "etl"
    assert sc.resolve_cross_section(k_factor=False) == "iww"
    assert sc.resolve_cross_section("iww-k") == "iww-k"
    with pytest.raises(ValueError, match="cross_section must be one of"):
        sc.resolve_cross_section("ww")
    with pytest.raises(ValueError, match="k_factor=False"):
        sc.resolve_cross_section("etl", k_factor=False)
    lims = {
        cs: sc.scan(p002, "aprime", [0.1], method="exact", cross_section=cs)["coupling"][
            "observed"
        ][0]
        for cs in ("etl", "iww", "iww-k")
    }
    assert lims["iww"] < lims["etl"]  # IWW overestimates the yield at 100 MeV (x 1.6)
    assert lims["etl"] == pytest.approx(lims["iww-k"], rel=0.05)  # K = 1.65 there
    old = sc.scan(p002, "aprime", [0.1], method="exact", k_factor=False)
    assert old["coupling"]["observed"][0] == lims["iww"]
    assert old["settings"]["k_factor"] is False


def test_scan_zero_observed_gives_2p3_and_band(p002):
    res = sc.scan(p002, "aprime", [0.001, 0.01, 0.1], method="exact")
    assert res["n_up"]["observed"] == pytest.approx([2.3026] * 3, abs=1e-3)
    band = res["coupling"]["expected"]
    for i in range(3):
        vals = [band[k][i] for k in ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")]
        assert vals == sorted(vals)
    assert res["eot_eff"][0] == pytest.approx(2.75e9 * 0.69, rel=1e-3)
    json.dumps(res)  # JSON-ready


def test_limit_scales_as_inverse_sqrt_eot(p002):
    raw = p002.model_dump(mode="json")
    for p in raw["periods"]:
        p["eot"]["value"] *= 100.0
    big = type(p002).model_validate(raw)
    small_res = sc.scan(p002, "aprime", [0.01, 0.1], method="exact")
    big_res = sc.scan(big, "aprime", [0.01, 0.1], method="exact")
    for a, b in zip(
        small_res["coupling"]["observed"], big_res["coupling"]["observed"], strict=True
    ):
        assert (a / b) ** 2 == pytest.approx(100.0, rel=1e-6)


def test_efficiency_interpolation_and_out_of_range(p002):
    table = p002.periods[0].efficiencies[0]
    eff, _, _ = sc.efficiency_at(table, 0.001)
    assert eff == pytest.approx(0.69)
    mid, _, _ = sc.efficiency_at(table, 10**-1.5)  # halfway in log mass
    assert mid == pytest.approx(0.62, abs=1e-3)
    with pytest.raises(ValueError, match=r"'aprime'.*0.0005 GeV.*\[0.001, 1\]"):
        sc.scan(p002, "aprime", [0.0005])  # inside the model's range, outside the table
    with pytest.raises(ValueError, match=r"'aprime'.*5.*GeV outside"):
        sc.scan(p002, "aprime", [5.0])  # outside the model's validity
    with pytest.raises(ValueError, match="no efficiency table for model 'zprime'"):
        sc.scan(p002, "zprime", [0.01])


def test_mass_outside_model_validity():
    inp = load_limit_inputs(PUBLISHED / "paper004.json")
    with pytest.raises(ValueError, match="phi"):
        sc.scan(inp, "phi", [0.05])


def test_parse_masses():
    assert list(sc.parse_masses("0.001,0.01")) == [0.001, 0.01]
    assert len(sc.parse_masses(grid="0.001:1:5")) == 5
    with pytest.raises(ValueError, match="lo:hi:n"):
        sc.parse_masses(grid="0.001:1")


def test_malformed_limit_inputs(tmp_path):
    raw = json.loads((PUBLISHED / "paper002.json").read_text())
    raw["periods"][1]["background"]["syst"] = -1.0
    path = tmp_path / "limit_inputs.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"limit_inputs.json: periods.1.background.syst"):
        load_limit_inputs(path)
    runner = CliRunner()
    res = runner.invoke(main, ["limit", str(path), "--model", "aprime", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "periods.1.background.syst" in res.output


def test_cli_limit_writes_json_and_plots(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(
        main,
        [
            "-q",
            "limit",
            str(PUBLISHED / "paper000.json"),
            "--model",
            "scalar",
            "--mass-grid",
            "0.001:0.5:4",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((out / "limit_scalar.json").read_text())
    assert data["blinding"]["blinded"] is False
    assert len(data["coupling"]["observed"]) == 4
    assert data["delta_a"]["observed"][0] > 0
    assert "versions" in data["provenance"]
    assert data["settings"]["signal_corr_unc"] == pytest.approx(0.10)
    assert (out / "limit_scalar.png").stat().st_size > 0
    assert (out / "delta_a_scalar.png").stat().st_size > 0
    res = runner.invoke(
        main,
        [
            "limit",
            str(PUBLISHED / "paper002.json"),
            "--model",
            "aprime",
            "--masses",
            "3.0",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code != 0
    assert "outside" in res.output


def test_cli_zprime_dark_options(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "-q",
            "limit",
            str(PUBLISHED / "paper001.json"),
            "--model",
            "zprime_dark",
            "--alpha-d",
            "0.1",
            "--mass-ratio",
            "3",
            "--masses",
            "0.01,0.1",
            "--out",
            str(tmp_path),
            "--no-plots",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "limit_zprime_dark.json").read_text())
    assert data["settings"]["alpha_d"] == 0.1
    assert data["settings"]["mass_ratio"] == 3.0


def test_scan_speed_printed(p002):
    t0 = time.perf_counter()
    sc.scan(p002, "aprime", method="exact")
    print(f"aprime, 50 masses, exact: {time.perf_counter() - t0:.2f} s")
