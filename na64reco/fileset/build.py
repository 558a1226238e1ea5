"""Filesets from event files: what ``na64 fileset`` writes and ``na64 run FILES`` runs on.

``expand_inputs(args)`` turns files, folders (their ``*.root`` files) and glob patterns into
the list of files; ``scan_file(path, kind, period, input_map)`` opens one file once (the full
validation of ``open_event_file``, through its input map), reads its run numbers, entries and
trigger-bit composition, hashes it and returns its ``FilesetEntry``:

* kind ``auto``: ``signal`` when the metadata describes a signal sample (``signal``), else from
  the trigger bits: ``calibration`` when most events carry the calibration bit (8), ``random``
  when every event is a random trigger only (4), ``physics`` when any event has the physics
  bit (1); anything else must be given (``--kind``);
* period ``auto``: the metadata's ``period``, else the run period holding the file's runs
  (``na64reco.conditions``);
* ``eot`` from the metadata (simulation), the generator record of a simulated file as
  ``na64 simulate`` writes it.

``build_fileset(paths, ...)`` scans every file (``map_files(scan, paths)``: e.g. on Dask
workers, default here in ``SCAN_THREADS`` threads), adds them to ``existing`` (``--append``)
and runs the manifest's own checks (a file listed twice, overlapping runs).
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from na64reco.checksums import file_sha256
from na64reco.conditions.periods import period_of_run
from na64reco.errors import ConditionsError, ConfigError, InputFileError, NA64Error
from na64reco.eventtree import contract, open_event_file
from na64reco.eventtree.inputmap import InputMap
from na64reco.fileset import Fileset, FilesetEntry, check_consistency

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "SCAN_THREADS", "build_fileset", "expand_inputs", "infer_kind", "scan_file"]

KINDS = ("auto", "physics", "calibration", "random", "signal")
SCAN_THREADS = 2

#: the simulation's run kinds -> fileset kinds (``na64 simulate`` writes the same)
_SIM_KIND = {"ecal-scan": "calibration", "muon": "calibration"}


def expand_inputs(args: Sequence[str | Path]) -> list[Path]:
    """Files, folders (their ``*.root`` files, sorted) and glob patterns -> files, in order,
    each once. NA64Error naming the argument that matches nothing."""
    out: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.root") if p.is_file())
            if not found:
                raise NA64Error(f"{arg}: a folder without *.root files")
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(arg)) if Path(p).is_file())
            if not found:
                raise NA64Error(f"{arg}: no such file, folder or matching files")
        for p in found:
            if p.resolve() not in {q.resolve() for q in out}:
                out.append(p)
    return out


def infer_kind(path: str | Path, metadata: dict, trigger: np.ndarray) -> str:
    """The fileset kind of a file from its metadata and trigger bits (module docstring)."""
    if metadata.get("signal") or metadata.get("kind") == "signal":
        return "signal"
    n = len(trigger)
    if n == 0:
        raise InputFileError(path, "tree events", "empty: its kind cannot be inferred, give it")
    calib = np.count_nonzero(trigger & contract.TRIGGER_CALIBRATION)
    random_only = np.count_nonzero(trigger == contract.TRIGGER_RANDOM)
    physics = np.count_nonzero(trigger & contract.TRIGGER_PHYSICS)
    if calib > n / 2:
        return "calibration"
    if random_only == n:
        return "random"
    if physics:
        return "physics"
    raise InputFileError(
        path,
        "branch trigger",
        f"kind cannot be inferred from the trigger bits ({n} events: {calib} calibration, "
        f"{random_only} random only, {physics} physics): give it",
    )


def _period(path: str | Path, metadata: dict, runs: tuple[int, ...]) -> str:
    if metadata.get("period"):
        return str(metadata["period"])
    if not runs:
        raise InputFileError(path, "na64_metadata.period", "missing and the file has no runs")
    try:
        periods = {period_of_run(r).name for r in (min(runs), max(runs))}
    except ConditionsError as exc:
        raise InputFileError(path, "branch run", str(exc)) from exc
    if len(periods) > 1:
        raise InputFileError(
            path, "branch run", f"runs {min(runs)}-{max(runs)} span periods {sorted(periods)}"
        )
    return periods.pop()


def _generator(metadata: dict) -> dict | None:
    """The manifest's generator record of a simulated file (as ``na64 simulate`` writes it)."""
    gen = metadata.get("generator")
    if not isinstance(gen, dict) or "request" not in gen:
        return None
    request = gen["request"]
    return {
        "name": gen.get("name"),
        "version": gen.get("version"),
        "seed": gen.get("seed"),
        "kind": request.get("kind"),
        "signal_model": request.get("signal_model"),
        "mass_gev": request.get("mass_gev"),
        "rate_scale": request.get("rate_scale", {}),
    }


def scan_file(
    path: str | Path,
    kind: str = "auto",
    period: str = "auto",
    input_map: InputMap | None = None,
) -> FilesetEntry:
    """The manifest entry of one file (module docstring); InputFileError naming the file."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    path = Path(path).resolve()
    ef = open_event_file(path, input_map=input_map)
    metadata = ef.metadata
    trigger = ef.arrays(["trigger"])["trigger"] if ef.num_entries else np.zeros(0, np.uint16)
    if kind == "auto":
        kind = infer_kind(path, metadata, trigger)
    chosen = _period(path, metadata, ef.runs) if period == "auto" else period
    try:
        sha, _ = file_sha256(path)
    except OSError as exc:
        raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
    runs = ef.runs or (0,)
    eot = metadata.get("eot")
    try:
        return FilesetEntry(
            path=str(path),
            kind=kind,
            period=chosen,
            run_min=min(runs),
            run_max=max(runs),
            events=ef.num_entries,
            eot=float(eot) if isinstance(eot, int | float) else None,
            sha256=sha,
            generator=_generator(metadata),
            input_map=input_map.source if input_map is not None else None,
            input_map_sha256=input_map.sha256 if input_map is not None else None,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "entry"
        raise InputFileError(path, f"manifest {where}", err["msg"]) from None


class _Scanner:
    """``scan_file`` with fixed options (picklable: Dask workers run it); with ``skip_bad``
    the InputFileError of a bad file is returned instead of raised."""

    def __init__(
        self, kind: str, period: str, input_map: InputMap | None, skip_bad: bool = False
    ) -> None:
        self.options = (kind, period, input_map)
        self.skip_bad = skip_bad

    def __call__(self, path: Path) -> FilesetEntry | InputFileError:
        try:
            return scan_file(path, *self.options)
        except InputFileError as exc:
            if not self.skip_bad:
                raise
            return exc


def build_fileset(
    paths: Sequence[str | Path],
    *,
    name: str | None = None,
    kind: str = "auto",
    period: str = "auto",
    input_map: InputMap | None = None,
    existing: Fileset | None = None,
    manifest: str | Path | None = None,
    command: str | None = None,
    map_files: Callable[[Callable, list], list] | None = None,
    skip_bad: bool = False,
) -> Fileset:
    """A fileset of ``paths`` (scanned with ``scan_file``), appended to ``existing`` when
    given. ``manifest``: where it will be written (named in errors). ConfigError for a file
    listed twice or overlapping runs (the checks of ``load_fileset``). ``skip_bad``: a file
    that cannot be scanned is left out and listed in ``Fileset.unreadable`` (a run reports it
    among its bad files) instead of raising."""
    files = [Path(p) for p in paths]
    if not files:
        raise NA64Error("no input files")
    scan = _Scanner(kind, period, input_map, skip_bad)
    if map_files is not None:
        scanned = list(map_files(scan, files))
    else:
        with ThreadPoolExecutor(max_workers=SCAN_THREADS) as pool:
            scanned = list(pool.map(scan, files))
    entries = [e for e in scanned if isinstance(e, FilesetEntry)]
    unreadable = [
        {"path": str(p), "item": e.item, "reason": e.problem}
        for p, e in zip(files, scanned, strict=True)
        if isinstance(e, InputFileError)
    ]
    for bad in unreadable:
        logger.warning("skipping bad file %s: %s: %s", bad["path"], bad["item"], bad["reason"])
    if not entries and not existing:
        raise NA64Error(
            f"every input file is bad: {unreadable[0]['path']}: {unreadable[0]['reason']}"
        )
    commands = [c for c in ((existing.command or "").split("\n") if existing else []) if c]
    if command:
        commands.append(command)
    where = manifest or "(fileset)"
    values: dict[str, Any] = {
        "name": name or (existing.name if existing else None) or _default_name(files),
        "files": [*(existing.files if existing else []), *entries],
        "command": "\n".join(commands) or None,
        "description": existing.description if existing else "made with na64 fileset",
    }
    try:
        fileset = Fileset(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(where, ".".join(str(p) for p in err["loc"]), err["msg"]) from None
    check_consistency(where, fileset)
    fileset._unreadable = unreadable
    return fileset


def _default_name(files: list[Path]) -> str:
    parents = {p.resolve().parent.name for p in files}
    return parents.pop() if len(parents) == 1 and "" not in parents else "files"
