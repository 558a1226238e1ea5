"""Value and configuration screening (issue 15): every bad value or configuration a hostile new
user tried gives a clear error naming the file, the item and the problem, or a recorded flag;
none reaches a histogram silently.

The table ``CASES`` is that of ``test_bad_inputs`` (same ``Case`` and checks): event files go
through ``run_analysis`` beside the small good file, configuration files through
``run_analysis``, the other commands through their functions or ``na64`` (click's CliRunner).
Outcomes: ``error`` (the exception, naming file, item and problem), ``ACCEPTED`` (a legitimate
value, processed) with the ``flag`` the summary must record. docs/reliability.md lists them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_bad_inputs import (
    ACCEPTED,
    GOOD_RUN,
    N_EVENTS,
    SAMPLE_MANIFEST,
    assert_names,
    base,  # noqa: F401 (the module fixture of the good file)
    calibration_raw,
    entry_for,
    limit_args,
    manifest,
    run_quietly,
    set_hit_value,
    set_value,
    with_run,
    write_calibration_json,
)

from na64reco.checksums import sha256_file
from na64reco.cli import main
from na64reco.errors import ConfigError, InputFileError
from na64reco.eventtree import write_events
from na64reco.fileset import Fileset, load_fileset, write_fileset
from na64reco.run import run_signal_efficiency

SELECTIONS = Path(__file__).resolve().parents[1] / "selections"


# --- event files: each maker returns the bad file's manifest entry (or entries) --------------
def _file(folder, b, run, name, batch, **kw):
    return entry_for(write_events(folder / name, batch, b["metadata"]), run, **kw)


def negative_amplitude(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "ecal_amp", (17, 1, 2, 3), -1500.0)
    return _file(folder, b, run, "negative.root", bt)


def huge_amplitude(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "ecal_amp", (18, 1, 2, 2), 1e30)
    return _file(folder, b, run, "huge.root", bt)


def amplitude_above_12_bits(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "hcal_amp", (19, 0, 1, 1), 60000.0)
    return _file(folder, b, run, "above.root", bt)


def amplitude_float32_max(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "ecal_amp", (20, 1, 2, 3), np.finfo("f4").max)
    return _file(folder, b, run, "f32max.root", bt)


def amplitude_below_pedestal(folder, b, run):
    bt = set_value(with_run(b["batch"], run), "ecal_amp", (21, 1, 2, 3), 20.0)  # pedestal ~200
    return _file(folder, b, run, "belowped.root", bt)


def saturated_amplitude(folder, b, run):
    """A reading at the saturation code planted in an ECAL channel of a file that has none."""
    bt = with_run(b["batch"], run)
    bt = {**bt, "ecal_amp": np.minimum(bt["ecal_amp"], np.float32(4000.0))}
    bt = set_value(bt, "ecal_amp", (22, 1, 2, 3), 4095.0)
    return _file(folder, b, run, "saturated.root", bt)


def strip_outside_geometry(folder, b, run):
    bt = set_hit_value(with_run(b["batch"], run), "mm", "strip", 42, 65000)
    return _file(folder, b, run, "strip.root", bt)


def station_outside_geometry(folder, b, run):
    bt = set_hit_value(with_run(b["batch"], run), "mm", "station", 43, 250)
    return _file(folder, b, run, "station.root", bt)


def plane_outside_geometry(folder, b, run):
    bt = set_hit_value(with_run(b["batch"], run), "mm", "plane", 44, 3)
    return _file(folder, b, run, "plane.root", bt)


def wire_outside_geometry(folder, b, run):
    bt = set_hit_value(with_run(b["batch"], run), "st", "wire", 45, 5000)
    return _file(folder, b, run, "wire.root", bt)


def duplicate_event_in_file(folder, b, run):
    bt = with_run(b["batch"], run)
    for key in ("spill", "event"):
        bt[key] = bt[key].copy()
        bt[key][150] = bt[key][30]
    return _file(folder, b, run, "twice.root", bt)


def duplicate_event_across_files(folder, b, run):
    """The good file's events once more, as the random-trigger file of the same run."""
    return _file(folder, b, GOOD_RUN, "again.root", b["batch"], kind="random")


def metadata_period_differs(folder, b, run):
    bt = with_run(b["batch"], run)
    path = write_events(folder / "meta2022.root", bt, {**b["metadata"], "period": "2022"})
    return entry_for(path, run)


# --- configuration: each maker returns (run_analysis keyword arguments, the bad file) --------
def _good(folder, b, bad: Path, **kw):
    return {"fileset": manifest(folder, [entry_for(b["good"], GOOD_RUN)]), **kw}, bad


def _raw_manifest(folder, b, **update) -> Path:
    """The good file and a second one, the second entry's fields updated in the raw JSON."""
    other = write_events(folder / "second.root", with_run(b["batch"], 1900), b["metadata"])
    path = manifest(folder, [entry_for(b["good"], GOOD_RUN), entry_for(other, 1900)])
    raw = json.loads(path.read_text())
    raw["files"][1].update(update)
    path.write_text(json.dumps(raw))
    return path


def period_contradicts_run(folder, b):
    path = _raw_manifest(folder, b, period="2022")
    return {"fileset": path}, path


def period_banana(folder, b):
    path = _raw_manifest(folder, b, period="banana")
    return {"fileset": path}, path


def _cutset(folder, b, old: str, new: str, name: str = "invisible"):
    text = (SELECTIONS / "invisible.toml").read_text()
    assert old in text
    path = folder / "my_cuts.toml"
    path.write_text(text.replace(old, new).replace('name = "invisible"', f'name = "{name}"'))
    return _good(folder, b, path, analysis=path)


MOMENTUM = 'min = { "2016-2018" = 97.0, "2021-2022" = 90.0 }, max = { "2016-2018" = 103.0'


def cut_min_above_max(folder, b):
    return _cutset(folder, b, MOMENTUM, MOMENTUM.replace("97.0", "105.0"))


def equals_on_continuous(folder, b):
    return _cutset(folder, b, '{ variable = "veto_e", max = 0.004 }',
                   '{ variable = "veto_e", equals = 0.0 }')  # fmt: skip


def period_key_typo(folder, b):
    return _cutset(folder, b, '"2016-2018" = 103.0', '"2016-2108" = 103.0')


def periods_not_covering(folder, b):
    return _cutset(folder, b, 'periods = ["2016", "2017", "2018", "2021", "2022"]',
                   'periods = ["2021", "2022"]')  # fmt: skip


def bound_missing_for_a_period(folder, b):
    return _cutset(folder, b, '"2016-2018" = 97.0, "2021-2022" = 90.0', '"2016-2018" = 97.0')


def bound_nan(folder, b):
    return _cutset(folder, b, "max = 4.0 }", "max = nan }")


def bound_inf(folder, b):
    return _cutset(folder, b, "max = 4.0 }", "max = inf }")


def _gains(folder, b, factor: float):
    raw = calibration_raw()
    gain = next(c for c in raw["corrections"] if c["name"] == "ecal_gain")
    for run_bin in gain["data"]["content"]:
        for item in run_bin["content"]:
            item["value"] *= factor
    path = write_calibration_json(folder, raw)
    return _good(folder, b, path, calibration=path)


def gains_times_1e6(folder, b):
    return _gains(folder, b, 1e6)


def gains_times_1000(folder, b):
    return _gains(folder, b, 1000.0)


def gains_times_3(folder, b):
    return _gains(folder, b, 3.0)


def non_ascii_path(folder, b):
    where = folder / "données du run 1800"
    where.mkdir()
    good = where / "bon fichier é.root"
    shutil.copy(b["good"], good)
    return {"fileset": manifest(where, [entry_for(good, GOOD_RUN)], "sélection")}, good


# --- other commands --------------------------------------------------------------------------
def _shipped(folder: Path, keep: Callable, edit: Callable | None = None) -> Path:
    """A copy of the shipped manifest (paths absolute) with the entries ``keep`` selects,
    ``edit(entries)`` applied to them."""
    entries = [e for e in load_fileset(SAMPLE_MANIFEST).files if keep(e)]
    if edit:
        entries = edit(entries)
    return write_fileset(folder / "fileset.json", Fileset(name="edited", files=entries))


def calibrate_checksum_mismatch(folder, b):
    def edit(entries):
        return [entries[0].model_copy(update={"sha256": "0" * 64}), *entries[1:]]

    path = _shipped(folder, lambda e: e.period == "2016" and e.kind != "physics"
                    and e.kind != "signal", edit)  # fmt: skip
    bad = load_fileset(path).files[0].path
    return ["calibrate", str(path), "--out", str(folder / "c.json")], bad


def calibrate_runs_outside_range(folder, b):
    def edit(entries):
        first = entries[0]  # run 2400: a 2016 run no other file of the manifest holds
        return [first.model_copy(update={"run_min": 2400, "run_max": 2400}), *entries[1:]]

    path = _shipped(folder, lambda e: e.period == "2016" and e.kind in ("calibration", "random"),
                    edit)  # fmt: skip
    bad = load_fileset(path).files[0].path
    return ["calibrate", str(path), "--out", str(folder / "c.json")], bad


def signal_file_swapped(folder, b):
    """The 20 MeV entry points at the 100 MeV sample (checksum and events updated, the generator
    record unchanged)."""
    files = load_fileset(SAMPLE_MANIFEST).files
    light = next(e for e in files if e.kind == "signal" and "0.02GeV" in e.path)
    heavy = next(e for e in files if e.kind == "signal" and "0.1GeV" in e.path)
    copy = folder / Path(light.path).name
    shutil.copy(heavy.path, copy)
    update = {"path": str(copy), "sha256": sha256_file(copy), "events": heavy.events}
    swapped = light.model_copy(update=update)
    path = write_fileset(folder / "signal.json", Fileset(name="s", files=[swapped]))
    return path, str(copy)


def signal_checksum_mismatch(folder, b):
    files = load_fileset(SAMPLE_MANIFEST).files
    light = next(e for e in files if e.kind == "signal" and "0.02GeV" in e.path)
    path = write_fileset(
        folder / "signal.json",
        Fileset(name="s", files=[light.model_copy(update={"sha256": "1" * 64})]),
    )
    return path, light.path


def limit_eot_1e300(folder, b):
    return limit_args(folder, lambda raw: raw["periods"][0]["eot"].update(value=1e300))


@dataclass(frozen=True)
class Case:
    """``via``: "file", "run" (as in test_bad_inputs), "calibrate" (``na64 calibrate``),
    "efficiency" (``run_signal_efficiency``) or "limit" (``na64 limit``). ``flag``: what the
    summary's flags must say of an accepted input."""

    id: str
    via: str
    make: Callable
    error: type[Exception] | None
    item: str | None
    problem: tuple[str, ...] = ()
    flag: tuple[str, ...] = ()


ADC = "outside the ADC range [0, 4095] (12-bit digitisers)"
GEOMETRY = "outside the detector geometry"
CASES = [
    Case("negative amplitude", "file", negative_amplitude, InputFileError, "branch ecal_amp",
         (ADC, "first at entry 17: -1500", "the run stopped, no output written")),
    Case("amplitude of 1e30", "file", huge_amplitude, InputFileError, "branch ecal_amp",
         (ADC, "first at entry 18: 1e+30")),
    Case("amplitude above the 12-bit range", "file", amplitude_above_12_bits, InputFileError,
         "branch hcal_amp", (ADC, "first at entry 19: 60000")),
    Case("amplitude at float32 max", "file", amplitude_float32_max, InputFileError,
         "branch ecal_amp", (ADC, "first at entry 20: 3.40282e+38")),
    Case("amplitude far below the pedestal", "file", amplitude_below_pedestal, InputFileError,
         "branch ecal_amp", ("more than 10 noise sigmas below the channel's pedestal",
                             "first at entry 21, channel (1, 2, 3): 20 ADC, pedestal")),
    Case("saturated amplitude (valid, flagged)", "file", saturated_amplitude, None, ACCEPTED,
         flag=("readings at the saturation code (ADC 4095)", "ecal_amp 1")),
    Case("strip outside the geometry", "file", strip_outside_geometry, InputFileError,
         "branch mm_strip", (GEOMETRY, "first at entry 42: strip 65000 of station",
                             "which has 320")),
    Case("station outside the geometry", "file", station_outside_geometry, InputFileError,
         "branch mm_station", (GEOMETRY, "first at entry 43: 250; must be below 7 (stations)")),
    Case("plane outside the geometry", "file", plane_outside_geometry, InputFileError,
         "branch mm_plane", (GEOMETRY, "first at entry 44: 3; must be 0 (x) or 1 (y)")),
    Case("straw wire outside the geometry", "file", wire_outside_geometry, InputFileError,
         "branch st_wire", (GEOMETRY, "first at entry 45: wire 5000 of station")),
    Case("event duplicated in one file", "file", duplicate_event_in_file, InputFileError,
         "branch event", ("1 duplicated (run, spill, event) id(s)", "at entries 30 and 150",
                          "an event counted twice")),
    Case("event in two files", "file", duplicate_event_across_files, InputFileError,
         "branch event", (f"{N_EVENTS} (run, spill, event) id(s) also in", "good_run1800.root",
                          "events counted twice")),
    Case("file metadata period contradicting the manifest", "file", metadata_period_differs,
         InputFileError, "na64_metadata.period", ("'2022', but the manifest says '2016'",)),
    Case("manifest period contradicting the run number", "run", period_contradicts_run,
         ConfigError, "files.1", ("run 1900 belongs to period 2016, the entry says 2022",)),
    Case("manifest period banana", "run", period_banana, ConfigError, "files.1.period",
         ("'banana' is not a run period (known: 2016, 2017, 2018, 2021, 2022)",)),
    Case("cut with min above max", "run", cut_min_above_max, ConfigError,
         "cuts.1.conditions.0.min", ("min 105 is not below max 103 in 2016", "selects nothing")),
    Case("equals on a continuous variable", "run", equals_on_continuous, ConfigError,
         "cuts.7.conditions.0.equals", ("equals on the continuous variable 'veto_e'",)),
    Case("period key typo", "run", period_key_typo, ConfigError, "cuts.1.conditions.0.max",
         ("'2016-2108': '2108' is not a run period",)),
    Case("cut set periods not covering the data", "run", periods_not_covering, ConfigError,
         "periods", ("['2021', '2022'] does not cover period 2016 of", "good_run1800.root")),
    Case("per-period bound missing a period", "run", bound_missing_for_a_period, ConfigError,
         "cuts.1.conditions.0", ("cut 'momentum': no value for period 2021",)),
    Case("bound of nan", "run", bound_nan, ConfigError, "cuts.5.conditions.0.max",
         ("bounds must be finite numbers, found nan",)),
    Case("bound of inf", "run", bound_inf, ConfigError, "cuts.5.conditions.0.max",
         ("bounds must be finite numbers, found inf",)),
    Case("ECAL gains x1e6", "run", gains_times_1e6, ConfigError, "corrections.ecal_gain",
         ("x the nominal", "beyond the tolerated factor 100 (gain_tolerance)")),
    Case("ECAL gains x1000", "run", gains_times_1000, ConfigError, "corrections.ecal_gain",
         ("beyond the tolerated factor 100",)),
    Case("ECAL gains x3 (flagged)", "run", gains_times_3, None, ACCEPTED,
         flag=("corrections.ecal_gain", "more than a factor 2 from the nominal gain")),
    Case("non-ASCII and space in paths", "run", non_ascii_path, None, ACCEPTED),
    Case("na64 calibrate with a checksum mismatch", "calibrate", calibrate_checksum_mismatch,
         InputFileError, "sha256", ("checksum mismatch: manifest 000",)),
    Case("na64 calibrate with runs outside the manifest's range", "calibrate",
         calibrate_runs_outside_range, InputFileError, "branch run",
         ("outside the manifest's range",)),
    Case("efficiency with a swapped signal file", "efficiency", signal_file_swapped,
         InputFileError, "na64_metadata.signal.mass_gev",
         ("0.1, but the manifest's generator says mass_gev = 0.02",
          "the file is not the sample listed")),
    Case("efficiency with a signal checksum mismatch", "efficiency", signal_checksum_mismatch,
         InputFileError, "sha256", ("checksum mismatch: manifest 111",)),
    Case("limit inputs with an EOT of 1e300", "limit", limit_eot_1e300, ConfigError,
         "periods.0.eot", ("beyond 1e+15 electrons on target",)),
]  # fmt: skip
FILE_CASES = [c for c in CASES if c.via == "file"]


def _check_accepted(case: Case, summary: dict, path: str | None = None) -> None:
    assert summary["bad_files"] == []
    if path is not None:
        row = next(r for r in summary["accounting"] if r["path"] == path)
        assert row["processed"] == row["entries"] == N_EVENTS
    if case.flag:
        text = " | ".join(f"{f['item']}: {f['problem']}" for f in summary["flags"])
        for part in (*case.flag, *([path] if path else [])):
            assert part in text, f"{part!r} not in {text!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_screening(case: Case, base, tmp_path):  # noqa: F811 (the fixture)
    if case.via == "file":
        run = GOOD_RUN + 200 + FILE_CASES.index(case)
        bad = case.make(tmp_path, base, run)
        kinds = ("physics", "random") if bad.kind == "random" else ("physics",)
        fileset = manifest(tmp_path, [entry_for(base["good"], GOOD_RUN), bad])
        if case.item is ACCEPTED:
            _check_accepted(case, run_quietly(tmp_path, fileset=fileset), bad.path)
            return
        with pytest.raises(case.error) as info:
            run_quietly(tmp_path, fileset=fileset, kinds=kinds)
        assert info.value.path == bad.path
        assert info.value.item == case.item
        assert_names(str(info.value), bad.path, case)
        assert not (tmp_path / "out" / "summary.json").exists()
        assert not (tmp_path / "out" / "histograms.json").exists()  # nothing filled, nothing kept
    elif case.via == "run":
        kwargs, bad_file = case.make(tmp_path, base)
        if case.item is ACCEPTED:
            _check_accepted(case, run_quietly(tmp_path, **kwargs))
            return
        with pytest.raises(case.error) as info:
            run_quietly(tmp_path, **kwargs)
        assert info.value.path == str(bad_file)
        assert info.value.key == case.item
        assert_names(str(info.value), bad_file, case)
    elif case.via == "efficiency":
        path, bad_file = case.make(tmp_path, base)
        with pytest.raises(case.error) as info:
            run_signal_efficiency(path, "invisible", quiet=True)
        assert info.value.path == bad_file
        assert info.value.item == case.item
        assert_names(str(info.value), bad_file, case)
    else:  # na64 calibrate, na64 limit: one "Error:" line, exit code 1, no traceback
        made = case.make(tmp_path, base)
        args, bad_file = made if case.via == "calibrate" else (made, made[1])
        result = CliRunner().invoke(main, args)
        assert "Traceback" not in result.output
        assert result.exit_code == 1, result.output
        output = " ".join(result.output.split())
        assert f"Error: {bad_file}: {case.item}: " in output
        assert_names(output, bad_file, case)
        assert not (tmp_path / "c.json").exists()


def test_the_screening_covers_the_issue():
    """Issue #15's list of bad values and configurations, each at least once."""
    ids = " | ".join(c.id for c in CASES)
    for words in ("negative amplitude", "1e30", "12-bit", "float32 max", "below the pedestal",
                  "saturated", "strip outside", "station outside", "duplicated in one file",
                  "in two files", "period contradicting", "banana", "min above max",
                  "equals on a continuous", "period key typo", "not covering", "nan", "inf",
                  "na64 calibrate", "swapped signal", "non-ASCII", "1e300", "x1e6"):  # fmt: skip
        assert words in ids, words
