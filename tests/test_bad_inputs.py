"""The bad-input matrix: every way an input can be wrong, through the user-facing entry points.

One table, ``CASES``: each row builds one bad input in a fresh folder and states what must happen:
an exception of a given type whose message names the file, the item and the problem (asserted
part by part), or ``ACCEPTED`` for inputs that look odd but are valid (an empty tree, negative
times). Event files go through ``run_analysis`` with a manifest holding a small good file and the
bad one; manifests, cut sets and calibration files through ``run_analysis`` too; limit inputs and
masses through ``na64 limit`` (click's CliRunner: one ``Error:`` line, no traceback).

The rows marked ``skippable`` are run once more, all together, with ``skip_bad_files=True``:
each bad file is listed in ``summary["bad_files"]`` with its reason, and the accounting stays
exact (processed + skipped == entries for every file, totals equal the manifest's).
docs/reliability.md lists the same cases.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _reliability import run_analysis
from click.testing import CliRunner

from na64reco.calibration.constants import CalibrationError
from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.errors import ConfigError, InputFileError, NA64Error, SchemaVersionError
from na64reco.eventtree import EventTreeWriter, open_event_file, write_events
from na64reco.fileset import Fileset, FilesetEntry, load_fileset, write_fileset
from na64reco.shipped import calibration_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_MANIFEST = ROOT / "data_samples" / "fileset.json"
PUBLISHED = ROOT / "na64reco" / "limits" / "published"
N_EVENTS = 200  # events per test file (the first events of the shipped 2016 physics run)
GOOD_RUN = 1800
ACCEPTED = None  # expected outcome of a valid input


# --- building blocks -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """The first N_EVENTS of the shipped 2016 physics run: batch, metadata and a good file."""
    entry = next(
        e for e in load_fileset(SAMPLE_MANIFEST).files if e.kind == "physics" and e.period == "2016"
    )
    ef = open_event_file(entry.path)
    batch = ef.arrays(entry_stop=N_EVENTS)
    folder = tmp_path_factory.mktemp("good")
    good = write_events(folder / "good_run1800.root", batch, ef.metadata)
    return {"batch": batch, "metadata": ef.metadata, "good": good}


def entry_for(path: Path, run: int, events: int = N_EVENTS, **kw) -> FilesetEntry:
    """A physics manifest entry for ``path`` (sha256 of the file, or of nothing if missing)."""
    sha = sha256_file(path) if path.is_file() else "0" * 64
    fields = dict(path=str(path), kind="physics", period="2016", run_min=run, run_max=run,
                  events=events, sha256=sha)  # fmt: skip
    return FilesetEntry(**{**fields, **kw})


def manifest(folder: Path, entries: list[FilesetEntry], name: str = "fileset") -> Path:
    return write_fileset(folder / f"{name}.json", Fileset(name=name, files=entries))


def with_run(batch: dict, run: int) -> dict:
    return {**batch, "run": np.full(len(batch["run"]), run, dtype="i4")}


def write_raw(path: Path, batch: dict, *, tree="events", metadata="ok", drop=(), override=None):
    """Write with plain uproot, bypassing the writer's checks (wrong names, types, shapes)."""
    if metadata == "ok":
        metadata = json.dumps({"schema_version": 1, "period": "2016"})
    data = {k: v for k, v in batch.items() if k not in drop and not k.startswith("mc_")}
    data.update(override or {})

    def branch_type(values):
        if isinstance(values, ak.Array):
            return values.type.content
        return np.dtype((values.dtype, values.shape[1:])) if values.ndim > 1 else values.dtype

    with uproot.recreate(path, compression=uproot.ZSTD(1)) as f:
        if metadata is not None:
            f["na64_metadata"] = metadata
        f.mktree(tree, {k: branch_type(v) for k, v in data.items()}).extend(data)
    return path


def set_value(batch: dict, branch: str, index: tuple, value: float) -> dict:
    values = np.array(batch[branch], copy=True)
    values[index] = value
    return {**batch, branch: values}


def set_hit_value(batch: dict, coll: str, field: str, event: int, value: float) -> dict:
    """``batch[coll][field]`` with the first hit of ``event`` set to ``value``."""
    hits = batch[coll]
    counts = ak.to_numpy(ak.num(hits[field]))
    flat = ak.to_numpy(ak.flatten(hits[field])).copy()
    assert counts[event] > 0
    flat[counts[:event].sum()] = value
    fields = {f: hits[f] for f in hits.fields}
    fields[field] = ak.unflatten(flat, counts)
    return {**batch, coll: ak.zip(fields)}


# --- event files: each maker writes one bad file and returns its manifest entry --------------
def not_root(folder, b, run):
    path = folder / "notes.root"
    path.write_text("run 1801: beam was fine\n")
    return entry_for(path, run, events=10)


def truncated(folder, b, run):
    path = write_events(folder / "cut.root", with_run(b["batch"], run), b["metadata"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return entry_for(path, run)


def empty_tree(folder, b, run):
    path = folder / "empty.root"
    with EventTreeWriter(path, b["metadata"]):
        pass
    return entry_for(path, run, events=0)


def other_tree_name(folder, b, run):
    return entry_for(
        write_raw(folder / "Events.root", with_run(b["batch"], run), tree="Events"), run
    )


def missing_branch(folder, b, run):
    return entry_for(
        write_raw(folder / "nosrd.root", with_run(b["batch"], run), drop=("srd_t",)), run
    )


def wrong_type(folder, b, run):
    bt = with_run(b["batch"], run)
    override = {"ecal_amp": bt["ecal_amp"].astype("f8")}
    return entry_for(write_raw(folder / "f8.root", bt, override=override), run)


def wrong_shape(folder, b, run):
    bt = with_run(b["batch"], run)
    override = {"ecal_amp": bt["ecal_amp"][:, 1]}
    return entry_for(write_raw(folder / "shape.root", bt, override=override), run)


def unknown_schema(folder, b, run):
    meta = json.dumps({"schema_version": 2, "period": "2016"})
    return entry_for(write_raw(folder / "v2.root", with_run(b["batch"], run), metadata=meta), run)


def missing_metadata(folder, b, run):
    return entry_for(
        write_raw(folder / "nometa.root", with_run(b["batch"], run), metadata=None), run
    )


def nan_amplitude(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "ecal_amp", (17, 1, 2, 3), np.nan)
    return entry_for(write_events(folder / "nan.root", bt, b["metadata"]), run)


def inf_hit_amplitude(folder, b, run):
    bt = set_hit_value(with_run(b["batch"], run), "mm", "amp", 42, np.inf)
    return entry_for(write_events(folder / "inf.root", bt, b["metadata"]), run)


def absurd_time(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "hcal_t", (99, 0, 1, 1), 5.0e6)
    return entry_for(write_events(folder / "time.root", bt, b["metadata"]), run)


def negative_times(folder, b, run):
    bt = with_run(b["batch"], run)
    bt["ecal_t"] = bt["ecal_t"] - np.float32(400.0)  # all negative, within the +-1000 ns limit
    return entry_for(write_events(folder / "early.root", bt, b["metadata"]), run)


def run_outside_manifest(folder, b, run):
    bt = with_run(b["batch"], 1900)
    bt["run"][150:] = 1901
    return entry_for(write_events(folder / "tworuns.root", bt, b["metadata"]), 1900)


def entries_mismatch(folder, b, run):
    path = write_events(folder / "count.root", with_run(b["batch"], run), b["metadata"])
    return entry_for(path, run, events=N_EVENTS + 5)


def checksum_mismatch(folder, b, run):
    path = write_events(folder / "changed.root", with_run(b["batch"], run), b["metadata"])
    entry = entry_for(path, run)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    return entry


def missing_file(folder, b, run):
    return entry_for(folder / "gone.root", run)


def run_without_calibration(folder, b, run):
    run = 3000  # between the shipped constants' 2016 (1800-2466) and 2022 (6035-) sets
    metadata = {**b["metadata"], "period": "2017"}
    path = write_events(folder / "run3000.root", with_run(b["batch"], run), metadata)
    return entry_for(path, run, period="2017")


# --- configuration files: each maker returns (run_analysis keyword arguments, the bad file) --
def fileset_same_path_twice(folder, b):
    good = entry_for(b["good"], GOOD_RUN)
    twice = good.model_copy(update={"run_min": 1900, "run_max": 1900})
    path = manifest(folder, [good, twice])
    return {"fileset": path}, path


def fileset_same_sha256(folder, b):
    copy = folder / "copy_of_good.root"
    shutil.copy(b["good"], copy)
    path = manifest(folder, [entry_for(b["good"], GOOD_RUN), entry_for(copy, 1900)])
    return {"fileset": path}, path


def fileset_overlapping_runs(folder, b):
    other = write_events(folder / "other.root", with_run(b["batch"], 1801), b["metadata"])
    entries = [entry_for(b["good"], GOOD_RUN), entry_for(other, 1801, run_min=1800, run_max=1810)]
    path = manifest(folder, entries)
    return {"fileset": path}, path


def fileset_malformed(folder, b):
    path = folder / "fileset.json"
    path.write_text('{"format": "na64-fileset", "version": 1, "files": [')
    return {"fileset": path}, path


def good_run(folder, b, bad: Path, **kw):
    """The good file's manifest, with ``kw`` (the bad cut set or calibration) on top."""
    return {"fileset": manifest(folder, [entry_for(b["good"], GOOD_RUN)]), **kw}, bad


def cutset_malformed(folder, b):
    path = folder / "my_cuts.toml"
    path.write_text("name = 'x'\nversion = 1\nperiods = [\n")
    return good_run(folder, b, path, analysis=path)


def cutset_unknown_variable(folder, b):
    path = folder / "my_cuts.toml"
    path.write_text(
        "name = 'x'\nversion = 1\ndescription = 'd'\nperiods = ['2016']\n[[cuts]]\n"
        "name = 'a'\ndoc = 'd'\nconditions = [{ variable = 'ecal_energy', max = 5 }]\n"
    )
    return good_run(folder, b, path, analysis=path)


def calibration_raw() -> dict:
    return json.loads(calibration_path().read_text())


def write_calibration_json(folder: Path, raw: dict | str) -> Path:
    path = folder / "my_calib.json"
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return path


def calibration_malformed(folder, b):
    path = write_calibration_json(folder, calibration_path().read_text()[:5000])
    return good_run(folder, b, path, calibration=path)


def calibration_nan_gain(folder, b):
    raw = calibration_raw()
    gain = next(c for c in raw["corrections"] if c["name"] == "ecal_gain")
    gain["data"]["content"][0]["content"][40]["value"] = float("nan")
    path = write_calibration_json(folder, raw)
    return good_run(folder, b, path, calibration=path)


def calibration_missing_correction(folder, b):
    raw = calibration_raw()
    raw["corrections"] = [c for c in raw["corrections"] if c["name"] != "hcal_gain"]
    path = write_calibration_json(folder, raw)
    return good_run(folder, b, path, calibration=path)


# --- limit inputs: each maker returns the arguments of ``na64 limit`` ------------------------
def limit_args(folder: Path, edit: Callable[[dict], None] | str, *extra: str) -> list[str]:
    path = folder / "limit_inputs.json"
    if isinstance(edit, str):
        path.write_text(edit)
    else:
        raw = json.loads((PUBLISHED / "paper002.json").read_text())
        edit(raw)
        path.write_text(json.dumps(raw))
    return ["limit", str(path), "--model", "aprime", "--out", str(folder / "out"), "--no-plots",
            *extra]  # fmt: skip


def limit_malformed(folder, b):
    return limit_args(folder, '{"format": "na64-limit-inputs", "version": 1,')


def limit_missing_field(folder, b):
    return limit_args(folder, lambda raw: raw["periods"][0].pop("eot"))


def limit_wrong_type(folder, b):
    return limit_args(folder, lambda raw: raw["periods"][0]["eot"].update(value="lots"))


def limit_negative_eot(folder, b):
    return limit_args(folder, lambda raw: raw["periods"][1]["eot"].update(value=-2.0e9))


def limit_nan_background(folder, b):
    return limit_args(folder, lambda raw: raw["periods"][0]["background"].update(expected="NaN"))


def mass_outside_model(folder, b):
    return limit_args(folder, lambda raw: None, "--masses", "0.01,5")


# --- the matrix ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One bad input. ``via``: "file" (an event file in a manifest), "run" (run_analysis
    keyword arguments) or "cli" (``na64`` arguments). ``item``/``problem``: the parts the
    message must hold (``item=ACCEPTED``: the input is valid); the file named is the bad one."""

    id: str
    via: str
    make: Callable
    error: type[Exception] | None
    item: str | None
    problem: tuple[str, ...] = ()
    skippable: bool = False  # event files: skipped and reported with skip_bad_files
    skip_problem: tuple[str, ...] | None = None  # the reason when skipped, if it differs


CASES = [
    # event files (InputFileError(path, item, problem) unless accepted)
    Case("not ROOT", "file", not_root, InputFileError, "file",
         ("not a ROOT file (starts with b'run ')",), skippable=True),
    Case("truncated ROOT file", "file", truncated, InputFileError, "file",
         ("truncated:", "bytes on disk, header says"), skippable=True),
    Case("empty tree", "file", empty_tree, None, ACCEPTED),
    Case("tree with another name", "file", other_tree_name, InputFileError, "tree events",
         ("no TTree named events; keys found: Events (TTree), na64_metadata (TObjString)",),
         skippable=True),
    Case("missing branch", "file", missing_branch, InputFileError, "branch srd_t", ("missing",),
         skippable=True),
    Case("branch of the wrong type", "file", wrong_type, InputFileError, "branch ecal_amp",
         ("wrong type: found float64 with shape [2, 6, 6]",
          "expected float32 with shape [2, 6, 6]"),
         skippable=True),
    Case("branch of the wrong shape", "file", wrong_shape, InputFileError, "branch ecal_amp",
         ("wrong type: found float32 with shape [6, 6]", "expected float32 with shape [2, 6, 6]"),
         skippable=True),
    Case("unknown schema version", "file", unknown_schema, SchemaVersionError,
         "na64_metadata.schema_version", ("unknown schema version 2", "known versions: 1"),
         skippable=True),
    Case("metadata missing", "file", missing_metadata, InputFileError, "na64_metadata",
         ("missing (expected a TObjString holding JSON)",), skippable=True),
    Case("NaN amplitude", "file", nan_amplitude, InputFileError, "branch ecal_amp",
         ("1 value(s) non-finite in 1 event(s) (first at entry 17: nan)",
          "the run stopped, no output written"), skippable=True,
         skip_problem=("1 value(s) non-finite in 1 event(s) (first at entry 17: nan)",)),
    Case("infinite hit amplitude", "file", inf_hit_amplitude, InputFileError, "branch mm_amp",
         ("1 value(s) non-finite in 1 event(s) (first at entry 42: inf)",
          "the run stopped, no output written"), skippable=True,
         skip_problem=("1 value(s) non-finite in 1 event(s) (first at entry 42: inf)",)),
    Case("absurd time", "file", absurd_time, InputFileError, "branch hcal_t",
         ("1 value(s) outside +-1000 ns of the trigger in 1 event(s) (first at entry 99: 5e+06)",
          "the run stopped, no output written"), skippable=True,
         skip_problem=("1 value(s) outside +-1000 ns of the trigger",)),
    Case("negative times (valid: relative to the trigger)", "file", negative_times, None, ACCEPTED),
    Case("runs outside the manifest's range", "file", run_outside_manifest, InputFileError,
         "branch run", ("runs [1901] outside the manifest's range 1900-1900",), skippable=True),
    Case("entries differ from the manifest", "file", entries_mismatch, InputFileError,
         "tree events", ("200 entries, the manifest says 205",), skippable=True),
    Case("checksum mismatch", "file", checksum_mismatch, InputFileError, "sha256",
         ("checksum mismatch: manifest",), skippable=True),
    Case("missing file", "file", missing_file, InputFileError, "file",
         ("cannot be read", "No such file or directory"), skippable=True),
    Case("run without calibration", "file", run_without_calibration, CalibrationError, "run",
         ("run(s) 3000 have no calibration constants in", "2016 v"),
         skippable=False),  # never skipped: the constants are missing, not the file
    # filesets (ConfigError(manifest, key, problem))
    Case("file listed twice", "run", fileset_same_path_twice, ConfigError, "files.1.path",
         ("good_run1800.root is listed twice (also files.0)",)),
    Case("same file under two names (sha256)", "run", fileset_same_sha256, ConfigError,
         "files.1.sha256",
         ("copy_of_good.root has the same sha256 as", "good_run1800.root (files.0)")),
    Case("overlapping run ranges", "run", fileset_overlapping_runs, ConfigError, "files.1.run_min",
         ("runs 1800-1810 of", "other.root overlap runs 1800-1800 of", "(files.0, kind physics)")),
    Case("malformed fileset", "run", fileset_malformed, ConfigError, "(file)", ("malformed JSON",)),
    # selections (ConfigError(toml, key, problem))
    Case("malformed selection file", "run", cutset_malformed, ConfigError, "(file)",
         ("malformed TOML",)),
    Case("selection with an unknown variable", "run", cutset_unknown_variable, ConfigError,
         "cuts.0.conditions.0.variable", ("unknown variable 'ecal_energy'",)),
    # calibration (ConfigError(file, item, problem))
    Case("malformed calibration file", "run", calibration_malformed, ConfigError, "(file)",
         ("malformed JSON",)),
    Case("calibration with a NaN gain", "run", calibration_nan_gain, ConfigError,
         "corrections.ecal_gain", ("1 non-finite value(s) (first at channel 40: nan)",)),
    Case("calibration missing a correction", "run", calibration_missing_correction, ConfigError,
         "corrections.hcal_gain", ("missing",)),
    # limit inputs and masses (na64 limit: "Error: <file>: <key>: <problem>")
    Case("malformed limit_inputs.json", "cli", limit_malformed, ConfigError, "(file)",
         ("malformed JSON",)),
    Case("limit inputs missing a field", "cli", limit_missing_field, ConfigError, "periods.0.eot",
         ("Field required",)),
    Case("limit inputs field of the wrong type", "cli", limit_wrong_type, ConfigError,
         "periods.0.eot.value", ("Input should be a valid number",)),
    Case("limit inputs with a negative EOT", "cli", limit_negative_eot, ConfigError,
         "periods.1.eot", ("value must be > 0 (electrons on target), found -2e+09",)),
    Case("limit inputs with a NaN background", "cli", limit_nan_background, ConfigError,
         "periods.0.background.expected", ("Input should be a finite number",)),
    Case("mass outside the model's validity", "cli", mass_outside_model, ValueError,
         "masses: model 'aprime'", ("mass 5.0 GeV outside the valid range [1e-06, 1] GeV",)),
]  # fmt: skip
FILE_CASES = [c for c in CASES if c.via == "file"]
SKIPPABLE = [c for c in FILE_CASES if c.skippable]


def bad_run(i: int) -> int:
    """A distinct 2016 run per file case (manifest run ranges must not overlap)."""
    return GOOD_RUN + 1 + i


def run_quietly(folder: Path, **kwargs) -> dict:
    kwargs.setdefault("analysis", "invisible")
    return run_analysis(out_dir=folder / "out", quiet=True, make_plots=False, **kwargs)


def assert_names(message: str, path: Path | str, case: Case) -> None:
    assert str(path) in message
    assert case.item in message
    for part in case.problem:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base, tmp_path):
    if case.via == "file":
        bad = case.make(tmp_path, base, bad_run(FILE_CASES.index(case)))
        fileset = manifest(tmp_path, [entry_for(base["good"], GOOD_RUN), bad])
        if case.item is ACCEPTED:
            summary = run_quietly(tmp_path, fileset=fileset)
            row = next(r for r in summary["accounting"] if r["path"] == bad.path)
            assert row["processed"] == row["entries"] == bad.events
            assert summary["bad_files"] == []
            return
        with pytest.raises(case.error) as info:
            run_quietly(tmp_path, fileset=fileset)
        if isinstance(info.value, InputFileError):
            assert info.value.path == bad.path
            assert info.value.item == case.item
        assert_names(str(info.value), bad.path, case)
        assert not (tmp_path / "out" / "summary.json").exists()
    elif case.via == "run":
        kwargs, bad_file = case.make(tmp_path, base)
        with pytest.raises(case.error) as info:
            run_quietly(tmp_path, **kwargs)
        assert info.value.path == str(bad_file)
        assert info.value.key == case.item
        assert_names(str(info.value), bad_file, case)
    else:
        args = case.make(tmp_path, base)
        result = CliRunner().invoke(main, args)
        assert "Traceback" not in result.output
        output = " ".join(result.output.split())
        if issubclass(case.error, NA64Error):  # the project's errors: one line, exit code 1
            assert result.exit_code == 1, result.output
            assert f"Error: {args[1]}: {case.item}: " in output
            assert_names(output, args[1], case)
        else:  # a bad option value: click's usage error naming model, mass and range
            assert result.exit_code == 2, result.output
            assert f"Error: {case.item}: " in output
            assert_names(output, "", case)
        assert not (tmp_path / "out" / "limit_aprime.json").exists()


@pytest.fixture(scope="module")
def skipped_run(base, tmp_path_factory) -> tuple[dict, dict[str, FilesetEntry], Fileset]:
    """One run with skip_bad_files over the good file and every skippable bad file."""
    folder = tmp_path_factory.mktemp("skip")
    bad: dict[str, FilesetEntry] = {}
    for case in SKIPPABLE:
        sub = folder / f"case{FILE_CASES.index(case)}"
        sub.mkdir()
        bad[case.id] = case.make(sub, base, bad_run(FILE_CASES.index(case)))
    path = manifest(folder, [entry_for(base["good"], GOOD_RUN), *bad.values()])
    summary = run_quietly(folder, fileset=path, skip_bad_files=True)
    return summary, bad, load_fileset(path)


@pytest.mark.parametrize("case", SKIPPABLE, ids=[c.id for c in SKIPPABLE])
def test_bad_file_is_skipped_and_reported(case: Case, skipped_run):
    summary, bad, _ = skipped_run
    entry = bad[case.id]
    (listed,) = [b for b in summary["bad_files"] if b["path"] == entry.path]
    assert listed["item"] == case.item
    for part in case.skip_problem or case.problem:
        assert part in listed["reason"], listed["reason"]
    (row,) = [r for r in summary["accounting"] if r["path"] == entry.path]
    assert row["processed"] == 0
    assert row["skipped"] == row["entries"] == entry.events
    assert row["reason"].startswith(f"bad file: {case.item}: ")


def test_skipping_keeps_the_accounting_exact(skipped_run, base):
    summary, _, fileset = skipped_run
    rows = summary["accounting"]
    assert {r["path"] for r in rows} == {e.path for e in fileset.files}
    assert all(r["processed"] + r["skipped"] == r["entries"] for r in rows)
    assert sum(r["entries"] for r in rows) == fileset.total_events
    assert sum(r["processed"] for r in rows) == N_EVENTS  # the good file, every event
    assert len(summary["bad_files"]) == len(SKIPPABLE)
    assert [i["path"] for i in summary["provenance"]["inputs"]] == [str(base["good"])]


def test_calibration_gap_is_never_skipped(base, tmp_path):
    case = next(c for c in CASES if c.make is run_without_calibration)
    bad = case.make(tmp_path, base, 0)
    fileset = manifest(tmp_path, [entry_for(base["good"], GOOD_RUN), bad])
    with pytest.raises(CalibrationError) as info:
        run_quietly(tmp_path, fileset=fileset, skip_bad_files=True)
    assert_names(str(info.value), bad.path, case)


def test_the_matrix_covers_the_issue():
    """Issue #8's list, each at least once (and at least 18 cases in all)."""
    ids = " | ".join(c.id for c in CASES)
    for words in ("not ROOT", "truncated", "empty tree", "another name", "missing branch",
                  "wrong type", "wrong shape", "schema version", "NaN amplitude", "absurd time",
                  "negative times", "without calibration", "listed twice", "overlapping run",
                  "malformed selection", "malformed calibration", "malformed limit_inputs",
                  "outside the model's validity"):  # fmt: skip
        assert words in ids, words
    assert len(CASES) >= 18


def test_values_are_checked_wherever_they_are_read(base, tmp_path):
    """On open (the first and last entries), by EventFile.arrays and by scan_values."""
    last = N_EVENTS - 1
    on_open = set_value(base["batch"], "srd_t", (last, 2), -2.0e3)
    path = write_events(tmp_path / "last.root", on_open, base["metadata"])
    with pytest.raises(
        InputFileError, match=rf"branch srd_t: 1 value\(s\) outside .* {last}: -2000"
    ):
        open_event_file(path)
    open_event_file(path, check_data=False)  # the structure alone is fine
    middle = set_hit_value(base["batch"], "st", "t", 120, np.nan)
    path = write_events(tmp_path / "middle.root", middle, base["metadata"])
    ef = open_event_file(path)
    ef.arrays(["ecal_amp", "mm"], entry_stop=100)  # the bad entry is not read
    with pytest.raises(InputFileError, match=r"branch st_t: .*non-finite.*entry 120: nan"):
        ef.arrays(["st"], entry_start=100)
    with pytest.raises(InputFileError, match=r"branch st_t: .*entry 120"):
        ef.scan_values(step=64)
