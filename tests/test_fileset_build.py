"""``na64 fileset`` (``na64reco.fileset.build``): manifests from files, folders and globs; the
kinds and periods it infers; what it refuses; event files given where a manifest was; the
missing-constants error and the way on (``na64 simulate --with-calibration-runs``,
``na64 calibrate``, ``--calib``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.eventtree import write_events
from na64reco.fileset import load_fileset

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
PHYSICS_2022 = SAMPLES / "na64sim_2022_physics_run06035.root"


def _invoke(*args: str):
    return CliRunner().invoke(main, ["-q", *args])


def _ok(*args: str) -> str:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _error(*args: str) -> str:
    result = _invoke(*args)
    assert result.exit_code != 0, result.output
    return " ".join(result.output.split())


def test_folder_gives_the_shipped_manifest(tmp_path):
    """Kinds (from the trigger bits; signal samples from their metadata), periods, runs,
    entries, EOT and sha256 of the shipped sample, as its hand-checked manifest has them."""
    out = tmp_path / "new" / "fileset.json"
    _ok("fileset", str(SAMPLES), "--out", str(out))
    built = {Path(f.path).name: f for f in load_fileset(out, verify_checksums=True).files}
    shipped = {Path(f.path).name: f for f in load_fileset(SAMPLES / "fileset.json").files}
    assert built.keys() == shipped.keys()
    assert len(built) == 11
    for name, f in shipped.items():
        b = built[name]
        assert (b.kind, b.period, b.run_min, b.run_max, b.events, b.eot, b.sha256) == (
            f.kind,
            f.period,
            f.run_min,
            f.run_max,
            f.events,
            f.eot,
            f.sha256,
        ), name


def test_glob_append_and_duplicates(tmp_path):
    out = tmp_path / "fileset.json"
    _ok("fileset", str(PHYSICS_2022), "--out", str(out))
    assert "exists" in _error("fileset", str(PHYSICS_2022), "--out", str(out))
    _ok("fileset", str(SAMPLES / "na64sim_2016_*.root"), "--out", str(out), "--append")
    fs = load_fileset(out)
    assert len(fs.files) == 1 + 7
    assert "listed twice" in _error("fileset", str(PHYSICS_2022), "--out", str(out), "--append")
    copy = tmp_path / "copy.root"
    shutil.copy(PHYSICS_2022, copy)
    message = _error("fileset", str(copy), "--out", str(out), "--append")
    assert "the same sha256" in message
    assert "copy.root" in message
    assert load_fileset(out).files == fs.files  # a refused append leaves the manifest alone
    assert "no such file" in _error("fileset", str(tmp_path / "none*.root"), "--out", "x.json")


def test_overlapping_runs_of_one_kind_are_refused(tmp_path, make_batch, sample_metadata):
    for name, seed in (("a.root", 1), ("b.root", 2)):
        batch = make_batch(50, seed=seed, run=6100)
        write_events(tmp_path / name, batch, {**sample_metadata, "period": "2022"})
    message = _error("fileset", str(tmp_path), "--out", str(tmp_path / "fileset.json"))
    assert "6100" in message
    assert "overlap" in message
    assert not (tmp_path / "fileset.json").exists()


def test_explicit_kind_and_period_are_checked(tmp_path):
    out = tmp_path / "fileset.json"
    message = _error("fileset", str(PHYSICS_2022), "--out", str(out), "--period", "2016")
    assert "run 6035 belongs to period 2022" in message
    assert "2030" in _error("fileset", str(PHYSICS_2022), "--out", str(out), "--period", "2030")
    _ok("fileset", str(PHYSICS_2022), "--out", str(out), "--kind", "physics", "--name", "mine")
    fs = load_fileset(out)
    assert fs.name == "mine"
    assert fs.files[0].sha256 == sha256_file(PHYSICS_2022)


def test_a_file_that_is_not_a_manifest_gets_a_message_saying_so(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("run spill event\n")
    message = _error("run", str(notes), "--analysis", "invisible", "--out", str(tmp_path / "o"))
    assert "not a fileset manifest" in message
    assert "ROOT event files, folders and globs are accepted" in message
    assert "not a ROOT file" in _error("fileset", str(notes), "--out", str(tmp_path / "f.json"))


@pytest.fixture(scope="module")
def sim_2021(tmp_path_factory) -> Path:
    """A 2021 physics sample (no shipped constants) with its calibration runs, one call."""
    out = tmp_path_factory.mktemp("sim2021")
    _ok(
        "simulate", "--period", "2021", "--eot", "4e6", "--seed", "3", "--out", str(out),
        "--with-calibration-runs",
    )  # fmt: skip
    return out


def test_simulate_with_calibration_runs(sim_2021):
    fs = load_fileset(sim_2021 / "fileset.json", verify_checksums=True)
    kinds = sorted((f.kind, (f.generator or {}).get("kind")) for f in fs.files)
    assert kinds == [
        ("calibration", "ecal-scan"),
        ("calibration", "muon"),
        ("physics", "physics"),
        ("random", "random"),
    ]
    assert {f.period for f in fs.files} == {"2021"}


def test_missing_constants_name_the_runs_and_the_commands(sim_2021, tmp_path):
    (physics,) = sim_2021.glob("*_physics_*.root")
    run = int(physics.stem.rsplit("run", 1)[1])
    message = _error("run", str(physics), "--analysis", "invisible", "--out", str(tmp_path / "o"))
    assert f"run(s) {run} have no calibration constants" in message
    assert "na64 calibrate" in message
    assert "--calib" in message
    assert "na64 fileset" in message
    # the way on the message gives: calibrate the simulation's calibration runs, then run
    calib = tmp_path / "calib-2021.json"
    _ok("calibrate", str(sim_2021 / "fileset.json"), "--out", str(calib))
    out = tmp_path / "run"
    _ok("run", str(physics), "--analysis", "invisible", "--out", str(out), "--calib", str(calib))
    summary = json.loads((out / "summary.json").read_text())
    (acc,) = summary["accounting"]
    assert acc["processed"] == acc["entries"] > 0
    assert summary["cutflow"]["2021"]["all"] > 0


def test_files_are_opened_and_hashed_on_the_dask_workers(tmp_path):
    from distributed import LocalCluster

    out = tmp_path / "fileset.json"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        _ok("fileset", str(SAMPLES / "na64sim_2022_*.root"), "--out", str(out),
            "--scheduler", cluster.scheduler_address)  # fmt: skip
    built = load_fileset(out, verify_checksums=True)
    assert len(built.files) == 4
    assert {f.kind for f in built.files} == {"physics", "calibration", "random"}


def test_analyze_takes_what_run_takes(tmp_path):
    """``na64 analyze`` resolves its inputs as ``na64 run`` (``as_fileset``)."""
    from na64reco.fileset import as_fileset

    notes = tmp_path / "notes.txt"
    notes.write_text("run spill event\n")
    message = _error("analyze", str(notes), "--out", str(tmp_path / "o"))
    assert "not a fileset manifest" in message
    assert not (tmp_path / "o" / "results.json").exists()
    built = as_fileset([str(SAMPLES / "na64sim_2016_*.root"), str(PHYSICS_2022)])
    assert sorted(Path(f.path).name for f in built.files) == sorted(
        [p.name for p in SAMPLES.glob("na64sim_2016_*.root")] + [PHYSICS_2022.name]
    )
    message = _error("analyze", str(PHYSICS_2022), str(SAMPLES / "fileset.json"), "--out", "o")
    assert "a manifest among event files" in message


def test_period_from_the_run_numbers_without_metadata_period(tmp_path, make_batch, sample_metadata):
    meta = {k: v for k, v in sample_metadata.items() if k != "period"}
    write_events(tmp_path / "run6100.root", make_batch(20, seed=3, run=6100), meta)
    out = tmp_path / "fileset.json"
    _ok("fileset", str(tmp_path / "run6100.root"), "--out", str(out))
    (entry,) = load_fileset(out).files
    assert (entry.period, entry.run_min, entry.run_max, entry.events) == ("2022", 6100, 6100, 20)


def test_run_on_a_folder_skips_a_truncated_file_and_reports_it(tmp_path):
    good = SAMPLES / "na64sim_2016_physics_run01800.root"
    cut = SAMPLES / "na64sim_2022_physics_run06035.root"
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(good, folder / good.name)
    (folder / cut.name).write_bytes(cut.read_bytes()[:200_000])
    refused = _error("run", str(folder), "--analysis", "invisible", "--out", str(tmp_path / "a"))
    assert cut.name in refused
    assert "truncated" in refused
    out = tmp_path / "b"
    _ok("run", str(folder), "--analysis", "invisible", "--out", str(out), "--skip-bad-files")
    summary = json.loads((out / "summary.json").read_text())
    (bad,) = summary["bad_files"]
    assert bad["path"].endswith(cut.name)
    assert bad["item"] == "file"
    assert "truncated" in bad["reason"]
    rows = {Path(r["path"]).name: r for r in summary["accounting"]}
    assert rows[good.name]["processed"] == rows[good.name]["entries"] > 0
    assert rows[cut.name]["processed"] == 0
    assert rows[cut.name]["reason"].startswith("bad file")
