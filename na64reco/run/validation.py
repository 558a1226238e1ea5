"""Validate the input files of a run before any chunk is processed.

``validate_inputs(fileset, kinds, calibration, options)`` keeps the manifest's files of the
requested kinds and, for each, checks its sha256 against the manifest (a file unchanged on disk
since it was last hashed takes its sha256 from the cache of ``na64reco.checksums``), opens it
with ``open_event_file`` (the full schema-v1 validation, which also reads the run numbers, the
file UUID and the cluster boundaries), compares its entries with the manifest and checks its
runs lie in the manifest's run range, that the period in its metadata is the manifest's and that
no (run, spill, event) appears twice (``open_event_file`` checks each file; files of real runs
that share a run number are compared with each other). A failure is an ``InputFileError``
naming file and problem; with ``skip_bad_files`` the file is left out and listed with its
reason, and every amplitude, time and hit index is read here too (``EventFile.scan_values`` with
the ``ValueScreen`` of the run's calibration) so that a file with corrupt values is skipped like
any other bad file. Then every run of every file must have calibration constants
(``CalibrationError`` naming run and file; never skipped).

The checks hash and open files: they run in ``VALIDATION_THREADS`` threads here, or on the
workers of a Dask cluster (``dask_mapper``), in ``TASKS_PER_WORKER`` batches per worker.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from na64reco.calibration.constants import CalibrationDB
from na64reco.checksums import cached_record, code_digest, file_sha256, file_status, remember_record
from na64reco.errors import CalibrationError, InputFileError, NA64Error
from na64reco.eventtree import open_event_file
from na64reco.eventtree.contract import TREE_NAME
from na64reco.eventtree.inputmap import InputMap
from na64reco.eventtree.reader import read_event_ids
from na64reco.fileset import RUN_KINDS, Fileset, FilesetEntry, entry_input_map

logger = logging.getLogger(__name__)

VALIDATION_THREADS = 2  # files hashed and opened at once before a run
TASKS_PER_WORKER = 4  # validation tasks per Dask worker (each checks a batch of files)

__all__ = [
    "InputFile",
    "ValueScreen",
    "check_calibration_coverage",
    "check_file",
    "dask_mapper",
    "validate_inputs",
]


@dataclass(frozen=True)
class InputFile:
    """A validated input file."""

    path: str
    kind: str
    period: str
    entries: int
    sha256: str
    runs: tuple[int, ...]
    checksum: str = "manifest"  # how sha256 was verified: computed, cache, or manifest (not)
    contract: str = "checked"  # the contract checks: checked now, or cache (unchanged file)
    uuid: bytes = b""
    clusters: tuple[int, ...] = ()
    input_map: str | None = None  # the JSON of the file's input map (None: contract names)
    input_map_sha256: str = ""
    input_map_source: str = ""  # the TOML file the map was read from

    def load_input_map(self) -> InputMap | None:
        """The file's input map (None: read by contract names)."""
        if self.input_map is None:
            return None
        imap = InputMap.model_validate_json(self.input_map)
        imap._source = self.input_map_source
        return imap


class ValueScreen:
    """The value checks that need the conditions and the run's constants (hit indices in the
    period's geometry, amplitudes not far below their pedestals), for ``scan_values``; a
    picklable callable, so that Dask workers can run it."""

    def __init__(self, calibration: CalibrationDB) -> None:
        self.calibration = calibration

    def __call__(self, path, block: dict, start: int) -> None:
        from na64reco.processors.selection import screen_chunk

        runs = np.asarray(block["run"])
        for run in np.unique(runs):
            index = np.flatnonzero(runs == run)
            part = {k: v[index] for k, v in block.items()}
            try:
                cset = self.calibration.for_run(int(run))
            except CalibrationError:  # reported (never skipped) by the coverage check
                continue
            screen_chunk(str(path), part, start + index, cset)


def check_file(
    entry: FilesetEntry,
    verify_checksums: bool = True,
    scan_values: bool = False,
    checksum_cache: bool = True,
    screen: ValueScreen | None = None,
) -> InputFile:
    """Validate one manifest entry; raise InputFileError naming the file and the problem.

    ``scan_values``: also read every amplitude and time, so that a file with corrupt values is
    found here (and can be skipped) rather than during the run. ``checksum_cache``: take the
    sha256 from the cache when the file's status is unchanged since it was last hashed, and then
    also the outcome of its contract checks if the same code validated it before."""
    path = entry.path
    sha, how = entry.sha256, "manifest"
    if verify_checksums:
        try:
            sha, how = file_sha256(path, use_cache=checksum_cache)
        except OSError as exc:
            raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
        if sha != entry.sha256:
            raise InputFileError(
                path, "sha256", f"checksum mismatch: manifest {entry.sha256}, file {sha}"
            )
    imap = entry_input_map(entry)
    # a file unchanged since an earlier run validated it, with the same code: the same outcome
    key = f"validation {code_digest()} uproot {uproot.__version__} scan_values={scan_values}"
    if imap is not None:
        key += f" input_map={imap.sha256}"
    record = cached_record(path, key) if how == "cache" else None
    contract_check = "cache" if record is not None else "checked"
    if record is None:
        try:
            status = file_status(path)
        except OSError as exc:
            raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
        # a verified checksum proves the bytes are those written: the header and structure
        # checks still run, the full read of every branch (a second decompression) is spared
        efile = open_event_file(path, check_data=not verify_checksums, input_map=imap)
        if scan_values:
            efile.scan_values(screen=screen)
        record = {
            "entries": int(efile.num_entries),
            "runs": list(efile.runs),
            "uuid": efile.uuid.hex(),
            "clusters": list(efile.clusters),
            "period": efile.metadata.get("period"),
        }
        if verify_checksums and checksum_cache:
            remember_record(path, key, status, record)
    if record["entries"] != entry.events:
        raise InputFileError(
            path,
            f"tree {TREE_NAME}",
            f"{record['entries']} entries, the manifest says {entry.events}",
        )
    if record.get("period") is not None and record["period"] != entry.period:
        raise InputFileError(
            path,
            "na64_metadata.period",
            f"{record['period']!r}, but the manifest says {entry.period!r}",
        )
    outside = [r for r in record["runs"] if not entry.run_min <= r <= entry.run_max]
    if outside:
        raise InputFileError(
            path,
            "branch run",
            f"runs {outside[:5]} outside the manifest's range {entry.run_min}-{entry.run_max}",
        )
    return InputFile(
        path=path,
        kind=entry.kind,
        period=entry.period,
        entries=record["entries"],
        sha256=sha,
        runs=tuple(record["runs"]),
        checksum=how,
        uuid=bytes.fromhex(record["uuid"]),
        clusters=tuple(record["clusters"]),
        contract=contract_check,
        input_map=None if imap is None else imap.model_dump_json(),
        input_map_sha256="" if imap is None else imap.sha256,
        input_map_source="" if imap is None else imap.source,
    )


def _check_batch(check: Callable, entries: list) -> list:
    return [check(e) for e in entries]


def dask_mapper(client: Any) -> Callable[[Callable, list], list]:
    """``map_files`` for ``validate_inputs`` that checks the files on the workers of a Dask
    ``client`` (results in input order), in ``TASKS_PER_WORKER`` batches per worker: on a
    cluster the first run's hashing of every byte is spread over the workers instead of the
    client's two threads, without one scheduler task per file (370k run files at ~1 ms per
    task would make the scheduler the limit)."""

    def map_files(check: Callable, entries: list) -> list:
        if not entries:
            return []
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = -(-len(entries) // (TASKS_PER_WORKER * n_workers))
        batches = [entries[i : i + size] for i in range(0, len(entries), size)]
        futures = [
            client.submit(_check_batch, check, b, pure=False, key=f"na64-validate-{uuid.uuid4()}")
            for b in batches
        ]
        try:
            return [r for batch in client.gather(futures) for r in batch]
        finally:
            client.cancel(futures)

    return map_files


class _Checker:
    """``check_file`` with fixed options that returns (instead of raising) InputFileError;
    a picklable callable, so that Dask workers can run it."""

    def __init__(
        self,
        verify_checksums: bool,
        scan_values: bool,
        checksum_cache: bool,
        screen: ValueScreen | None = None,
    ) -> None:
        self.options = (verify_checksums, scan_values, checksum_cache, screen)

    def __call__(self, entry: FilesetEntry) -> InputFile | InputFileError:
        try:
            return check_file(entry, *self.options)
        except InputFileError as exc:
            return exc


def validate_inputs(
    fileset: Fileset,
    kinds: Sequence[str],
    calibration: CalibrationDB | None,
    *,
    skip_bad_files: bool = False,
    verify_checksums: bool = True,
    checksum_cache: bool = True,
    map_files: Callable[[Callable, list], list] | None = None,
    screen: ValueScreen | None = None,
) -> tuple[list[InputFile], list[dict]]:
    """Validate the files of ``kinds`` in a fileset: (good files, bad files with reasons).

    Raises InputFileError (a bad file, unless ``skip_bad_files``), CalibrationError (a run
    without constants, naming run and file; not checked when ``calibration`` is None) or
    NA64Error (no file of the requested kinds, or every file bad). ``map_files(check,
    entries)``: where the files are checked, e.g. on Dask workers (``dask_mapper``); default:
    ``VALIDATION_THREADS`` threads here.
    """
    selected = [e for e in fileset.files if e.kind in kinds]
    if not selected:
        found = sorted({e.kind for e in fileset.files})
        raise NA64Error(
            f"{fileset.source}: no file of kind {', '.join(kinds)} (kinds present: "
            f"{', '.join(found)})"
        )
    check = _Checker(verify_checksums, skip_bad_files, checksum_cache, screen)
    if map_files is not None:
        checked = list(map_files(check, selected))  # in manifest order
    else:
        # the checks hash and open files: I/O and hashlib release the GIL, so threads overlap
        with ThreadPoolExecutor(max_workers=VALIDATION_THREADS) as pool:
            checked = list(pool.map(check, selected))
    good: list[InputFile] = []
    bad: list[dict] = []
    for entry, result in zip(selected, checked, strict=True):
        if isinstance(result, InputFile):
            good.append(result)
            continue
        if not skip_bad_files:
            raise result
        logger.warning("skipping bad file %s", result)
        bad.append(
            {
                "path": entry.path,
                "kind": entry.kind,
                "entries": entry.events,  # unreadable file: the manifest's count
                "item": result.item,
                "reason": result.problem,
            }
        )
    for unread in fileset.unreadable:  # left out while the fileset was built from files
        bad.append({**unread, "kind": "unknown", "entries": 0})  # entries: not readable
    check_duplicates_across_files(good)
    if calibration is not None:
        check_calibration_coverage(good, calibration)
    if not good:
        raise NA64Error(f"{fileset.source}: every input file is bad, nothing to run on")
    return good, bad


def missing_constants_help(runs: Sequence[int], folder: str | Path) -> str:
    """How to derive constants for ``runs`` (the commands, for the error message)."""
    from na64reco.conditions.periods import period_of_run
    from na64reco.errors import ConditionsError

    periods = []
    for run in runs:
        try:
            periods.append(period_of_run(run).name)
        except ConditionsError:
            continue
    period = sorted(set(periods))[0] if periods else "PERIOD"
    out = shlex.quote(str(folder))
    return (
        f"derive constants from the calibration runs of period {period} (ECAL cell scan, muon "
        "run, random triggers): put them in a manifest with the physics files, e.g. for a "
        f"simulation 'na64 simulate --period {period} --calibration ecal-scan --events 1080 "
        f"--out {out}' (and --calibration muon --events 1200, --calibration random --events "
        f"500; or simulate the physics runs with --with-calibration-runs), for converted data "
        f"'na64 fileset CALIBRATION_FILES --out {out}/fileset.json --append'; "
        f"then 'na64 calibrate {out}/fileset.json --out calib-{period}.json' and run again with "
        f"'--calib calib-{period}.json' ('na64 analyze' derives them itself)"
    )


def check_calibration_coverage(files: Sequence[InputFile], calibration: CalibrationDB) -> None:
    """Every run of every file has constants; else CalibrationError naming the runs and file,
    with the commands that derive the missing constants."""
    for f in files:
        missing = []
        for run in f.runs:
            try:
                calibration.for_run(run)
            except CalibrationError:
                missing.append(run)
        if missing:
            ranges = ", ".join(
                f"{c.name} v{c.version}: {c.run_min}-{c.run_max}" for c in calibration.sets
            )
            raise CalibrationError(
                f"{f.path}: run(s) {', '.join(map(str, missing))} have no calibration constants "
                f"in {calibration.source or 'the calibration'} ({ranges}); "
                + missing_constants_help(missing, Path(f.path).parent)
            )


def check_duplicates_across_files(files: Sequence[InputFile]) -> None:
    """No (run, spill, event) in two files of real runs (physics, calibration, random: numbered
    uniquely; simulated signal samples may share ids). Only files sharing a run number can
    share an event, so only those are read; InputFileError naming the later file."""
    real = [f for f in files if f.kind in RUN_KINDS]
    ids: dict[str, np.ndarray] = {}

    def keys(f: InputFile) -> np.ndarray:
        if f.path not in ids:
            raw = read_event_ids(f.path, f.load_input_map())
            ids[f.path] = np.rec.fromarrays(
                [np.asarray(raw[k], np.int64) for k in ("run", "spill", "event")]
            )
        return ids[f.path]

    for i, later in enumerate(real):
        for earlier in real[:i]:
            if not set(later.runs) & set(earlier.runs):
                continue
            common = np.intersect1d(keys(earlier), keys(later))
            if len(common):
                r = common[0]
                raise InputFileError(
                    later.path,
                    "branch event",
                    f"{len(common)} (run, spill, event) id(s) also in {earlier.path} (first "
                    f"({int(r[0])}, {int(r[1])}, {int(r[2])})): events counted twice",
                )
