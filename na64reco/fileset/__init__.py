"""Fileset manifests: JSON lists of event files with run ranges, event counts, EOT and checksums.

Format (``version`` 1), validated with pydantic (unknown keys are errors)::

    {"format": "na64-fileset", "version": 1, "name": "...", "tree": "events",
     "files": [{"path": "run9000.root", "kind": "physics", "period": "2023B",
                "run_min": 9000, "run_max": 9010, "events": 100000, "eot": 1.2e9,
                "sha256": "<64 hex>", "generator": null}],
     "command": null, "description": null}

``input_map`` (optional): the input map every reader applies to the file
(``na64reco.eventtree.inputmap``: a converter's names, shapes and units), relative like ``path``,
with ``input_map_sha256`` the sha256 of its content (checked when the file is validated).
``path`` is relative to the manifest's folder or absolute; ``period`` must be a run period and
hold the run range (``run_min`` and ``run_max`` belong to it). Every problem raises
``ConfigError(manifest, key, problem)`` with the key as a dotted path (``files.2.run_max``).
Loading also rejects a file listed twice (the same path, or the same sha256 under two paths)
and overlapping run ranges between files of the same kind (physics, calibration and random
files hold real runs, numbered uniquely across periods; ``signal`` files are simulation and may
share run numbers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from na64reco.checksums import sha256_file
from na64reco.conditions.periods import PERIODS, period_of_run
from na64reco.documents import read_document, write_json
from na64reco.errors import ConditionsError, ConfigError

if TYPE_CHECKING:
    from na64reco.eventtree.inputmap import InputMap

logger = logging.getLogger(__name__)

__all__ = [
    "FILESET_FORMAT",
    "FILESET_VERSION",
    "RUN_KINDS",
    "Fileset",
    "FilesetEntry",
    "as_fileset",
    "check_consistency",
    "entry_input_map",
    "load_fileset",
    "write_fileset",
]

FILESET_FORMAT = "na64-fileset"
FILESET_VERSION = 1
RUN_KINDS = ("physics", "calibration", "random")


class FilesetEntry(BaseModel):
    """One event file of a fileset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    kind: Literal["physics", "calibration", "signal", "random"]
    period: str = Field(min_length=1)
    run_min: int = Field(ge=0)
    run_max: int = Field(ge=0)
    events: int = Field(ge=0)
    eot: float | None = Field(default=None, ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    generator: dict[str, Any] | None = None
    input_map: str | None = Field(None, min_length=1)
    input_map_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _map_with_digest(self) -> FilesetEntry:
        if (self.input_map is None) != (self.input_map_sha256 is None):
            raise ValueError("input_map and input_map_sha256 go together")
        return self

    @model_validator(mode="after")
    def _runs_ordered(self) -> FilesetEntry:
        if self.run_max < self.run_min:
            raise ValueError(f"run_max {self.run_max} is below run_min {self.run_min}")
        return self

    @field_validator("period")
    @classmethod
    def _known_period(cls, value: str) -> str:
        if value not in PERIODS:
            raise ValueError(f"{value!r} is not a run period (known: {', '.join(PERIODS)})")
        return value

    @model_validator(mode="after")
    def _runs_in_period(self) -> FilesetEntry:
        for run in (self.run_min, self.run_max):
            try:
                period = period_of_run(run).name
            except ConditionsError as exc:
                raise ValueError(str(exc)) from None
            if period != self.period:
                raise ValueError(
                    f"run {run} belongs to period {period}, the entry says {self.period}"
                )
        return self


class Fileset(BaseModel):
    """A validated fileset; ``files`` paths are absolute once loaded with ``load_fileset``."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["na64-fileset"] = FILESET_FORMAT
    version: Literal[1] = FILESET_VERSION
    name: str = Field(min_length=1)
    tree: Literal["events"] = "events"
    files: list[FilesetEntry] = Field(min_length=1)
    command: str | None = None
    description: str | None = None
    _source: str = PrivateAttr(default="")
    # files given to build_fileset(skip_bad=True) that could not be scanned: path, item, reason
    _unreadable: list[dict] = PrivateAttr(default_factory=list)

    @property
    def source(self) -> str:
        """The manifest this fileset was loaded from (absolute); for one built from event
        files, the arguments in parentheses; "" if built otherwise."""
        return self._source

    @property
    def unreadable(self) -> list[dict]:
        """Files left out when it was built from event files with ``skip_bad`` (path, item,
        reason); [] for a manifest."""
        return list(self._unreadable)

    @property
    def total_events(self) -> int:
        """Sum of ``events`` over all files."""
        return sum(f.events for f in self.files)

    @property
    def total_eot(self) -> float | None:
        """Sum of ``eot`` over the files that state it (None if none does)."""
        values = [f.eot for f in self.files if f.eot is not None]
        return float(sum(values)) if values else None

    def to_coffea(self, dataset_name: str | None = None) -> dict[str, dict]:
        """``{name: {"files": {path: tree}}}`` for ``coffea.processor.Runner``."""
        return {dataset_name or self.name: {"files": {f.path: self.tree for f in self.files}}}


def check_consistency(manifest: str | Path, fs: Fileset) -> None:
    """No file listed twice (path or sha256), no overlapping runs between files of a kind of
    real runs; ConfigError naming ``manifest`` and the entry."""
    seen: dict[str, int] = {}
    digests: dict[str, int] = {}
    for i, entry in enumerate(fs.files):
        resolved = str(Path(entry.path).resolve())
        if resolved in seen:
            j = seen[resolved]
            raise ConfigError(
                manifest, f"files.{i}.path", f"{entry.path} is listed twice (also files.{j})"
            )
        seen[resolved] = i
        if entry.sha256 in digests:  # a copy under another name: its events would count twice
            j = digests[entry.sha256]
            raise ConfigError(
                manifest,
                f"files.{i}.sha256",
                f"{entry.path} has the same sha256 as {fs.files[j].path} (files.{j}): "
                "the same file listed twice",
            )
        digests[entry.sha256] = i
    for i, a in enumerate(fs.files):
        if a.kind not in RUN_KINDS:
            continue
        for j in range(i):
            b = fs.files[j]
            if b.kind == a.kind and a.run_min <= b.run_max and b.run_min <= a.run_max:
                raise ConfigError(
                    manifest,
                    f"files.{i}.run_min",
                    f"runs {a.run_min}-{a.run_max} of {a.path} overlap runs "
                    f"{b.run_min}-{b.run_max} of {b.path} (files.{j}, kind {a.kind})",
                )


def _not_a_manifest(manifest: Path) -> None:
    """ConfigError for a file that is no JSON manifest at all (a ROOT file, a binary)."""
    try:
        with open(manifest, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return  # read_document names the problem
    if head == b"root":
        raise ConfigError(
            manifest,
            "(file)",
            "a ROOT file, not a fileset manifest (JSON): give ROOT files, folders or globs to "
            "'na64 run' directly, or make a manifest with 'na64 fileset FILES --out fileset.json'",
        )
    if manifest.suffix != ".json" and not head.lstrip()[:1] == b"{":
        raise ConfigError(
            manifest,
            "(file)",
            "not a fileset manifest (JSON, see 'na64 fileset --help'): ROOT event files, "
            "folders and globs are accepted directly",
        )


def entry_input_map(entry: FilesetEntry) -> InputMap | None:
    """The input map a manifest entry names, its sha256 checked (InputFileError naming the
    file otherwise)."""
    from na64reco.eventtree.inputmap import load_recorded_input_map

    if entry.input_map is None:
        return None
    return load_recorded_input_map(
        entry.path, entry.input_map, entry.input_map_sha256, "the manifest"
    )


def load_fileset(path: str | Path, verify_checksums: bool = False) -> Fileset:
    """Read and validate a manifest; file paths come back absolute."""
    manifest = Path(path)
    _not_a_manifest(manifest)
    fs = read_document(manifest, Fileset, format_name=FILESET_FORMAT, versions=(FILESET_VERSION,))
    base = manifest.resolve().parent
    files = [
        entry.model_copy(
            update={
                "path": str((base / entry.path).resolve()),
                "input_map": None
                if entry.input_map is None
                else str((base / entry.input_map).resolve()),
            }
        )
        for entry in fs.files
    ]
    fs = fs.model_copy(update={"files": files})
    fs._source = str(manifest.resolve())
    check_consistency(manifest, fs)
    if verify_checksums:
        for i, entry in enumerate(fs.files):
            try:
                digest = sha256_file(entry.path)
            except OSError as exc:
                raise ConfigError(manifest, f"files.{i}.path", f"{entry.path}: {exc}") from exc
            if digest != entry.sha256:
                raise ConfigError(
                    manifest,
                    f"files.{i}.sha256",
                    f"checksum mismatch for {entry.path}: manifest {entry.sha256}, file {digest}",
                )
    logger.debug("loaded fileset %s: %d files", fs.name, len(fs.files))
    return fs


def is_manifest(arg: str | Path) -> bool:
    """True for an existing file that is no ROOT file (a manifest, or something to refuse
    as one); False for ROOT files, folders and glob patterns."""
    path = Path(arg)
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(4) != b"root"


def as_fileset(
    fileset: Fileset | str | Path | Sequence[str | Path], **build_options: Any
) -> Fileset:
    """A Fileset as it is; loaded from a manifest path; or built in memory from ROOT files,
    folders and globs (``na64reco.fileset.build.build_fileset`` with ``build_options``), as
    ``na64 fileset`` would write it."""
    if isinstance(fileset, Fileset):
        return fileset
    args = [fileset] if isinstance(fileset, str | Path) else list(fileset)
    if len(args) == 1 and is_manifest(args[0]):
        return load_fileset(args[0])
    manifests = [a for a in args if is_manifest(a)]
    if manifests:
        raise ConfigError(
            manifests[0], "(file)", "a manifest among event files: give one manifest alone"
        )
    from na64reco.fileset.build import build_fileset, expand_inputs

    built = build_fileset(expand_inputs(args), **build_options)
    built._source = "(" + " ".join(str(a) for a in args) + ")"
    return built


def write_fileset(path: str | Path, fileset: Fileset) -> Path:
    """Write ``fileset`` as JSON; paths inside the manifest's folder are stored relative."""
    manifest = Path(path)
    base = manifest.resolve().parent

    def relative(path: str) -> str:
        p = Path(path)
        if p.is_absolute() and p.resolve().is_relative_to(base):
            p = p.resolve().relative_to(base)
        return p.as_posix()

    files = []
    for entry in fileset.files:
        update = {"path": relative(entry.path)}
        if entry.input_map is not None:
            update["input_map"] = relative(entry.input_map)
        files.append(entry.model_copy(update=update))
    document = fileset.model_copy(update={"files": files}).model_dump(mode="json")
    for entry in document["files"]:  # the optional map keys only where a file has a map
        if entry["input_map"] is None:
            del entry["input_map"], entry["input_map_sha256"]
    return write_json(manifest, document)
