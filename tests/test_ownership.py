"""Never delete what the toolkit did not create; an output folder holds one whole set of outputs.

* ``--checkpoint-dir`` at a folder holding someone's files (subfolders with a ``key.json``
  included, what the clean-up used to remove): refused, every file intact;
* an output folder: a re-run replaces the previous set whole (no file of it survives, not even a
  plot of another name), a failed re-run leaves no old output that looks current, files of
  other origin are never touched, a foreign or edited ``summary.json`` is refused;
* ``na64 analyze``: the old report and results are gone as soon as a new chain starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _reliability import physics_entries, run_analysis, write_manifest
from click.testing import CliRunner
from test_bad_inputs import GOOD_RUN, base, entry_for, manifest, set_value, with_run  # noqa: F401

from na64reco.cli import main
from na64reco.errors import InputFileError, NA64Error
from na64reco.eventtree import write_events
from na64reco.pipeline import AnalyzeOptions, analyze
from na64reco.pipeline.chain import REPORT_NAMES
from na64reco.run.checkpoint import ChunkCheckpointer
from na64reco.run.folder import MARKER, OutputFolder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


def _foreign(folder: Path) -> dict[str, bytes]:
    """Someone's folder: notes, results, and a subfolder with a key.json."""
    (folder / "analysis-2023" / "fits").mkdir(parents=True)
    (folder / "notes.txt").write_text("beam was fine\n")
    (folder / "analysis-2023" / "key.json").write_text('{"mine": true}\n')
    (folder / "analysis-2023" / "fits" / "result.json").write_text("{}\n")
    mine = ("notes.txt", "analysis-2023/key.json", "analysis-2023/fits/result.json")
    return {name: (folder / name).read_bytes() for name in mine}


def test_checkpoint_dir_with_foreign_content_deletes_nothing(tmp_path):
    """``na64 run --checkpoint-dir`` at someone's folder: a usage error, every file intact."""
    folder = tmp_path / "my data"
    before = _foreign(folder)
    manifest_path = write_manifest(tmp_path, physics_entries())
    result = CliRunner().invoke(main, ["-q", "run", str(manifest_path), "--analysis", "invisible",
                                       "--out", str(tmp_path / "out"), "--no-plots",
                                       "--checkpoint-dir", str(folder)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "holds files the toolkit did not create" in " ".join(result.output.split())
    assert _snapshot(folder) == before
    assert not (tmp_path / "out" / "summary.json").exists()


def test_checkpoint_clean_up_removes_only_its_own_files(tmp_path):
    """In the toolkit's own checkpoint folder, a file someone added is left where it is."""
    entry = physics_entries()[0]
    ck = ChunkCheckpointer(tmp_path / "ck", {"cutset": "a"}, {entry.path: entry.sha256})
    ck.prepare(resume=False)
    meta = {"filename": entry.path, "entrystart": 0, "entrystop": 150}
    ck.save({"out": 1}, meta)
    added = ck.filepath(meta).parent / "my_notes.txt"
    added.write_text("keep me\n")
    ChunkCheckpointer(tmp_path / "ck", {"cutset": "b"}, ck.file_sha256).prepare(resume=False)
    assert added.read_text() == "keep me\n"
    assert not ck.filepath(meta).exists()


@pytest.fixture
def good_manifest(base, tmp_path):  # noqa: F811 (the fixture)
    return manifest(tmp_path, [entry_for(base["good"], GOOD_RUN)])


def test_rerun_replaces_the_whole_set_and_keeps_foreign_files(good_manifest, tmp_path):
    out = tmp_path / "out"
    run_analysis(good_manifest, "invisible", out, quiet=True, make_plots=True, plots="all")
    first = json.loads((out / MARKER).read_text())["files"]
    assert "nminus1_hcal_zero_2016.png" in first
    foreign = _foreign(out)
    summary = run_analysis(good_manifest, "dimuon", out, quiet=True, make_plots=True)
    assert summary["analysis"] == "dimuon"
    now = json.loads((out / MARKER).read_text())["files"]
    stale = [name for name in first if name not in now]
    assert "nminus1_hcal_zero_2016.png" in stale  # a plot of the invisible cut set only
    assert not any((out / name).exists() for name in stale)
    assert {n: b for n, b in _snapshot(out).items() if n in foreign} == foreign


def test_failed_rerun_leaves_no_stale_outputs(good_manifest, base, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    run_analysis(good_manifest, "invisible", out, quiet=True, make_plots=False)
    foreign = _foreign(out)
    bad = set_value(with_run(base["batch"], 1801), "ecal_amp", (3, 1, 2, 3), np.nan)
    path = write_events(tmp_path / "nan.root", bad, base["metadata"])
    fileset = manifest(tmp_path, [entry_for(base["good"], GOOD_RUN), entry_for(path, 1801)], "b")
    with pytest.raises(InputFileError):
        run_analysis(fileset, "invisible", out, quiet=True, make_plots=False)
    assert _snapshot(out) == foreign  # the old set is gone, the foreign files untouched
    assert not list(out.glob(".na64-staging-*"))


@pytest.mark.parametrize("how", ["foreign", "edited"])
def test_summary_not_written_by_the_toolkit_is_never_removed(good_manifest, tmp_path, how):
    out = tmp_path / "out"
    if how == "edited":
        run_analysis(good_manifest, "invisible", out, quiet=True, make_plots=False)
        (out / "summary.json").write_text('{"mine": true}\n')
    else:
        out.mkdir()
        (out / "summary.json").write_text('{"mine": true}\n')
    before = _snapshot(out)
    with pytest.raises(NA64Error, match="nothing is removed"):
        run_analysis(good_manifest, "invisible", out, quiet=True, make_plots=False)
    assert _snapshot(out) == before


def test_analyze_removes_its_old_report_when_it_starts(tmp_path):
    """A chain that fails at once (no calibration runs to derive constants from) leaves no
    report or results of the previous chain behind; other files stay."""
    out = tmp_path / "analysis"
    folder = OutputFolder(out, REPORT_NAMES, kind="na64 analyze")
    folder.prepare()
    staging = folder.staging()
    (staging / "report.html").write_text("<b>Blinded.</b> an old report")
    (staging / "results.json").write_text("{}")
    folder.commit(staging, last="results.json")
    (out / "notes.txt").write_text("mine\n")
    fileset = write_manifest(tmp_path, physics_entries())
    with pytest.raises(NA64Error, match="no file of kind calibration, random"):
        analyze(fileset, out, AnalyzeOptions())
    assert not (out / "report.html").exists()
    assert not (out / "results.json").exists()
    assert (out / "notes.txt").read_text() == "mine\n"


def test_a_folder_holds_the_outputs_of_one_command(good_manifest, tmp_path):
    """``na64 run`` into a folder holding a chain's report (or the reverse) is refused: the
    one set of the folder is never taken for the other's."""
    out = tmp_path / "analysis"
    folder = OutputFolder(out, REPORT_NAMES, kind="na64 analyze")
    folder.prepare()
    staging = folder.staging()
    (staging / "results.json").write_text("{}")
    folder.commit(staging, last="results.json")
    with pytest.raises(NA64Error, match="holds the outputs of na64 analyze, not of na64 run"):
        run_analysis(good_manifest, "invisible", out, quiet=True, make_plots=False)
    assert (out / "results.json").read_text() == "{}"
