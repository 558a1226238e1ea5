"""The na64 command line: help, simulate, inspect, and clear errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from na64reco.cli import main
from na64reco.fileset import load_fileset

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_help_documents_every_simulate_option():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    assert "simulate" in top.output
    assert "inspect" in top.output
    sim = runner.invoke(main, ["simulate", "--help"])
    assert sim.exit_code == 0
    for option in (
        "--period",
        "--eot",
        "--seed",
        "--out",
        "--signal",
        "--mass",
        "--calibration",
        "--events",
        "--first-run",
        "--rate-scale",
        "--jobs",
        "--manifest",
    ):
        assert option in sim.output


def test_simulate_then_inspect(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "-q",
            "simulate",
            "--period",
            "2018",
            "--eot",
            "2e7",
            "--seed",
            "4",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    fileset = load_fileset(tmp_path / "fileset.json", verify_checksums=True)
    assert fileset.files[0].period == "2018"
    assert fileset.files[0].eot == 2e7
    shown = runner.invoke(main, ["inspect", str(tmp_path / "fileset.json")])
    assert shown.exit_code == 0, shown.output
    assert "physics" in shown.output
    assert "2e+07 EOT" in shown.output


def test_inspect_shipped_sample():
    result = CliRunner().invoke(main, ["inspect", str(SAMPLES / "fileset.json")])
    assert result.exit_code == 0, result.output
    assert "11 file(s)" in result.output


def test_inspect_foreign_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.root"
    bad.write_text("this is not a ROOT file\n")
    result = CliRunner().invoke(main, ["inspect", str(bad)])
    assert result.exit_code != 0
    assert str(bad) in result.output
    assert "not a ROOT file" in result.output
    assert "Traceback" not in result.output


def test_bad_options_are_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "simulate",
            "--period",
            "2016",
            "--eot",
            "1e7",
            "--out",
            str(tmp_path),
            "--rate-scale",
            "upstream",
        ],
    )
    assert result.exit_code == 2
    assert "expected PROCESS=FACTOR" in result.output
    result = runner.invoke(
        main,
        [
            "simulate",
            "--period",
            "2016",
            "--out",
            str(tmp_path),
            "--signal",
            "aprime",
            "--events",
            "10",
        ],
    )
    assert result.exit_code == 2
    assert "needs a positive mass" in result.output
    result = runner.invoke(
        main, ["simulate", "--period", "2016", "--eot", "1e12", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "outside period 2016" in result.output
