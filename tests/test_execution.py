"""run_analysis / ``na64 run``: executors agree, exact accounting, bad files, blinding, outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import uproot
from _reliability import run_analysis
from click.testing import CliRunner

from na64reco.analyses import ANALYSES
from na64reco.blinding import definition_record
from na64reco.calibration.constants import CalibrationError
from na64reco.calibration.io import load_calibration
from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.cutsets.config import load_cutset
from na64reco.errors import AccountingError, ConfigError, InputFileError, OptionsError
from na64reco.fileset import Fileset, load_fileset, write_fileset
from na64reco.run.coffea_adapter import quiet_progress
from na64reco.run.engine import account
from na64reco.shipped import calibration_path

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
MANIFEST = SAMPLE / "fileset.json"
OUTPUT_FILES = ("histograms.root", "histograms.json", "summary.json", "sideband_events.csv")
SUMMARY_KEYS = {
    "analysis",
    "cutset",
    "blinding",
    "cutflow",
    "accounting",
    "bad_files",
    "skipped",
    "metrics",
    "provenance",
}


def _manifest(tmp_path: Path, entries: list, name: str = "test") -> Path:
    path = tmp_path / f"{name}.json"
    write_fileset(path, Fileset(name=name, files=entries))
    return path


def _physics_2016():
    return next(
        e for e in load_fileset(MANIFEST).files if e.kind == "physics" and e.period == "2016"
    )


# --- the shipped sample --------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory) -> tuple[Path, dict]:
    """The invisible analysis on the shipped physics files (iterative, plots made)."""
    out = tmp_path_factory.mktemp("shipped") / "iterative"
    summary = run_analysis(MANIFEST, "invisible", out, executor="iterative", quiet=True)
    return out, summary


def test_shipped_sample_writes_all_outputs(shipped_run):
    out, summary = shipped_run
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    loaded = json.loads((out / "summary.json").read_text())
    assert loaded.keys() >= SUMMARY_KEYS
    assert loaded["analysis"] == "invisible"
    assert loaded["cutset"] == load_cutset("invisible").as_dict()
    blinding = loaded["blinding"]
    assert blinding["blinded"] is True
    assert (blinding["unblinded_at"], blinding["unblinded_by"], blinding["unblinding"]) == (
        None,
        None,
        None,
    )
    # every protected region is hidden (same events), with the definition's own constants
    assert blinding["regions_hidden"] == ["invisible", "phi"]
    assert blinding["regions_opened"] == []
    assert blinding["signal_box_hidden"] == ["hcal_zero", "box"]
    assert blinding["definition"] == definition_record()
    assert blinding["calibration"]["sha256"] == sha256_file(calibration_path())
    assert blinding["ledger"] == {"path": str((out / "unblinding.jsonl").resolve()), "entries": []}
    assert loaded["bad_files"] == []
    prov = loaded["provenance"]
    physics = [e for e in load_fileset(MANIFEST).files if e.kind == "physics"]
    assert [(i["path"], i["sha256"], i["events"]) for i in prov["inputs"]] == [
        (e.path, e.sha256, e.events) for e in physics
    ]
    assert prov["calibration"]["sha256"] == sha256_file(calibration_path())
    assert {s["period"] for s in prov["calibration"]["sets"]} == {"2016", "2022"}
    assert prov["executor"]["name"] == "iterative"
    assert prov["chunksize"] == 100_000
    assert loaded["metrics"]["entries"] == sum(e.events for e in physics)
    # cutflow: every period of the sample, every cut; the signal-region cuts null
    box = set(load_cutset("invisible").signal_box)
    for period in ("2016", "2022"):
        flow = loaded["cutflow"][period]
        assert list(flow) == ["all", *load_cutset("invisible").cut_names]
        for cut, n in flow.items():
            assert (n is None) == (cut in box), (period, cut)
    # ROOT file: the categorical axes split into TH2/TH1 per period, stage, cut
    with uproot.open(out / "histograms.root") as f:
        classes = {k.rsplit(";", 1)[0]: v for k, v in f.classnames().items()}
        assert classes["plane/2016/all"] == "TH2D"
        assert classes["plane/2022/veto"] == "TH2D"
        assert classes["nminus1/box/2016"] == "TH1D"
        assert classes["nminus1/momentum/2022"] == "TH1D"
        plane = f["plane/2016/momentum"].values()
        assert plane.shape == (150, 120)
        assert plane.sum() == loaded["cutflow"]["2016"]["momentum"]
    assert set(summary["outputs"]["histograms"]) <= set(classes)
    # the plots are made when na64reco.plots is there, and never fail the run
    assert summary["plots"].startswith(("made", "skipped"))


def test_accounting_is_exact(shipped_run):
    _, summary = shipped_run
    physics = {e.path: e.events for e in load_fileset(MANIFEST).files if e.kind == "physics"}
    assert {r["path"]: r["entries"] for r in summary["accounting"]} == physics
    for row in summary["accounting"]:
        assert row["processed"] == row["entries"]
        assert row["skipped"] == 0
        assert row["reason"] is None


def test_maxchunks_skips_with_a_reason(tmp_path):
    """One chunk (files are single clusters): the 2016 file runs, the 2022 file is skipped."""
    summary = run_analysis(
        MANIFEST, "invisible", tmp_path / "out", maxchunks=1, quiet=True, make_plots=False
    )
    first, second = summary["accounting"]
    assert first["processed"] == first["entries"]
    assert first["reason"] is None
    assert second["processed"] == 0
    assert second["skipped"] == second["entries"] > 0
    assert "maxchunks=1" in second["reason"]
    assert summary["skipped"] == [second]


def test_accounting_mismatch_is_an_error():
    from na64reco.run.validation import InputFile

    f = InputFile("a.root", "physics", "2016", 100, "0" * 64, (1800,))
    with pytest.raises(AccountingError, match=r"a\.root: 90 events processed"):
        account([f], [], {"a.root": 100}, {"a.root": 90}, None)
    with pytest.raises(AccountingError, match="no reason"):
        account([f], [], {"a.root": 90}, {"a.root": 90}, None)
    with pytest.raises(AccountingError, match="not in the input"):
        account([f], [], {"a.root": 100}, {"a.root": 100, "b.root": 3}, None)


# (executors, chunk sizes, worker counts agree: tests/test_determinism.py)


# --- quiet --------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_quiet_prints_nothing(tmp_path, capfd, executor):
    manifest = _manifest(tmp_path, [_physics_2016()])
    run_analysis(
        manifest, "invisible", tmp_path / "q", executor=executor, quiet=True, make_plots=False
    )
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    from coffea.util import coffea_console

    assert not coffea_console.quiet  # restored


def test_progress_shown_unless_quiet(tmp_path, capfd):
    manifest = _manifest(tmp_path, [_physics_2016()])
    run_analysis(manifest, "invisible", tmp_path / "loud", quiet=False, make_plots=False)
    assert "Processing" in capfd.readouterr().out
    with quiet_progress(True):
        from coffea.util import coffea_console

        assert coffea_console.quiet
    assert not coffea_console.quiet


# --- validation and bad files ---------------------------------------------------------------
@pytest.fixture
def manifest_with_bad_file(tmp_path) -> tuple[Path, Path]:
    bad = tmp_path / "na64_2016_physics_run01900.root"
    bad.write_text("this is not a ROOT file\n")
    good = _physics_2016()
    bad_entry = good.model_copy(
        update={"path": str(bad), "run_min": 1900, "run_max": 1900, "events": 10,
                "sha256": sha256_file(bad)}
    )  # fmt: skip
    return _manifest(tmp_path, [good, bad_entry]), bad


def test_bad_file_is_a_clear_error(manifest_with_bad_file, tmp_path):
    manifest, bad = manifest_with_bad_file
    with pytest.raises(InputFileError, match="not a ROOT file") as info:
        run_analysis(manifest, "invisible", tmp_path / "out", quiet=True, make_plots=False)
    assert info.value.path == str(bad)
    assert str(bad) in str(info.value)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_skip_bad_files_lists_them_and_accounting_stays_exact(manifest_with_bad_file, tmp_path):
    manifest, bad = manifest_with_bad_file
    summary = run_analysis(
        manifest, "invisible", tmp_path / "out", skip_bad_files=True, quiet=True, make_plots=False
    )
    (listed,) = summary["bad_files"]
    assert listed["path"] == str(bad)
    assert "not a ROOT file" in listed["reason"]
    rows = {r["path"]: r for r in summary["accounting"]}
    assert rows[str(bad)]["processed"] == 0
    assert rows[str(bad)]["skipped"] == rows[str(bad)]["entries"] == 10
    assert "not a ROOT file" in rows[str(bad)]["reason"]
    good = rows[_physics_2016().path]
    assert good["processed"] == good["entries"] == _physics_2016().events
    assert all(r["processed"] + r["skipped"] == r["entries"] for r in rows.values())
    assert [i["path"] for i in summary["provenance"]["inputs"]] == [good["path"]]
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["bad_files"] == summary["bad_files"]


def test_checksum_mismatch_is_a_bad_file(tmp_path):
    copy = tmp_path / "run1800.root"
    shutil.copy(_physics_2016().path, copy)
    with open(copy, "ab") as fh:
        fh.write(b"\0")
    manifest = _manifest(tmp_path, [_physics_2016().model_copy(update={"path": str(copy)})])
    with pytest.raises(InputFileError, match="checksum mismatch"):
        run_analysis(manifest, "invisible", tmp_path / "out", quiet=True, make_plots=False)


def test_run_without_constants_is_an_error_naming_run_and_file(tmp_path):
    entry = _physics_2016()
    manifest = _manifest(tmp_path, [entry])
    calib = tmp_path / "only2022.json"
    from na64reco.calibration.io import write_calibration

    db = load_calibration(calibration_path())
    write_calibration(calib, [s for s in db.sets if s.period == "2022"], version=1)
    with pytest.raises(CalibrationError, match=r"run\(s\) 1800") as info:
        run_analysis(manifest, "invisible", tmp_path / "o", calibration=calib, quiet=True)
    assert entry.path in str(info.value)


def test_malformed_manifest_and_unknown_analysis(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="malformed JSON"):
        run_analysis(broken, "invisible", tmp_path / "o", quiet=True)
    with pytest.raises(OptionsError, match="unknown analysis 'nonsense'"):
        run_analysis(MANIFEST, "nonsense", tmp_path / "o", quiet=True)
    with pytest.raises(ValueError, match=r"executor\n.*'iterative', 'futures' or 'dask'"):
        run_analysis(MANIFEST, "invisible", tmp_path / "o", executor="spark", quiet=True)
    assert set(ANALYSES) == {"invisible", "dimuon", "phi"}


# (blinding: tests/test_blinding.py)


# --- command line ---------------------------------------------------------------------------
def test_cli_run(tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        main,
        ["-q", "run", str(MANIFEST), "--analysis", "invisible", "--out", str(out),
         "--maxchunks", "1", "--no-plots"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    summary = json.loads((out / "summary.json").read_text())
    assert [r["skipped"] > 0 for r in summary["accounting"]] == [False, True]
    assert summary["blinding"]["blinded"] is True


def test_cli_unblind_warns_and_errors_are_one_line(tmp_path, manifest_with_bad_file):
    manifest, bad = manifest_with_bad_file
    result = CliRunner().invoke(
        main,
        ["-q", "run", str(manifest), "--analysis", "invisible", "--out", str(tmp_path / "o"),
         "--unblind", "--no-plots"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "WARNING: --unblind" in result.output
    assert f"Error: {bad}: file: not a ROOT file" in result.output
    assert "Traceback" not in result.output


def test_worker_warm_up_processes_a_few_events_and_never_raises(tmp_path):
    """The Dask warm-up runs the processor on the first events of the first input; a file it
    cannot read is reported back, not raised (the validation names the file)."""
    from na64reco.analyses import resolve_cutset
    from na64reco.processors.selection import SelectionProcessor
    from na64reco.run.executors import _warm_up

    physics = next(e for e in load_fileset(MANIFEST).files if e.kind == "physics")
    proc = SelectionProcessor(resolve_cutset("invisible"), load_calibration(calibration_path()))
    assert _warm_up(proc, physics.path) == "warm"
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a root file")
    assert _warm_up(proc, str(junk)).startswith("warm-up skipped: ")
