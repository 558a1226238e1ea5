"""na64 analyze: the whole chain on the shipped sample, stage reuse, the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from na64reco.analysis_report import Results
from na64reco.cli import main

SELECTIONS = Path(__file__).resolve().parents[1] / "selections"
SECTIONS = (
    "Run summary and exposure",
    "Cutflows",
    "The (E_ECAL, E_HCAL) plane",
    "N-1 distributions",
    "Calibration",
    "Background in the signal box",
    "Signal efficiency",
    "Limits",
    "Blinding status",
    "Provenance",
)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze")
    result = CliRunner().invoke(main, ["-q", "analyze", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == ""  # quiet really is quiet
    return out


def _stages(out: Path) -> dict[str, bool]:
    results = json.loads((out / "results.json").read_text())
    return {s["name"]: s["reused"] for s in results["stages"]}


def test_results_and_report(first_run):
    results = json.loads((first_run / "results.json").read_text())
    Results.model_validate(results)
    assert results["blinding"]["blinded"] is True
    assert set(results["limits"]) >= {
        "aprime",
        "scalar",
        "pseudoscalar",
        "vector",
        "axial",
        "zprime",
        "phi",
    }
    assert all(results["exposure"][p]["eot_live"] > 0 for p in ("2016", "2022"))
    html = (first_run / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    # every plot of the stages is embedded, nothing is fetched from outside
    pngs = list((first_run / "stages").rglob("*.png"))
    assert len(pngs) > 20
    assert html.count("data:image/png;base64,") == len(pngs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html


def test_second_run_reuses_every_stage(first_run):
    result = CliRunner().invoke(main, ["-q", "analyze", "--out", str(first_run)])
    assert result.exit_code == 0, result.output
    assert all(_stages(first_run).values())
    assert json.loads((first_run / "results.json").read_text())["wall_seconds"] < 10


def test_changing_one_cut_reruns_only_what_depends_on_it(first_run, tmp_path):
    text = (SELECTIONS / "invisible.toml").read_text()
    changed = tmp_path / "invisible.toml"
    changed.write_text(
        text.replace('variable = "shower_chi2", max = 4.0', 'variable = "shower_chi2", max = 5.0')
    )
    assert changed.read_text() != text
    result = CliRunner().invoke(
        main, ["-q", "analyze", "--out", str(first_run), "--cutset", f"invisible={changed}"]
    )
    assert result.exit_code == 0, result.output
    reused = _stages(first_run)
    assert reused["calibration"]
    assert reused["run-dimuon"]
    assert reused["run-phi"]
    assert not reused["run-invisible"]
    assert not reused["efficiency"]
    assert not reused["background"]
    assert not reused["limits"]
