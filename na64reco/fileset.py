"""Fileset manifests: JSON lists of event files with run ranges, event counts, EOT and checksums.

Format (``version`` 1), validated with pydantic (unknown keys are errors)::

    {"format": "na64-fileset", "version": 1, "name": "...", "tree": "events",
     "files": [{"path": "run9000.root", "kind": "physics", "period": "2023B",
                "run_min": 9000, "run_max": 9010, "events": 100000, "eot": 1.2e9,
                "sha256": "<64 hex>", "generator": null}],
     "command": null, "description": null}

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
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from na64reco.checksums import sha256_file
from na64reco.conditions.periods import PERIODS, period_of_run
from na64reco.documents import read_document, write_json
from na64reco.errors import ConditionsError, ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "FILESET_FORMAT",
    "FILESET_VERSION",
    "RUN_KINDS",
    "Fileset",
    "FilesetEntry",
    "as_fileset",
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

    @property
    def source(self) -> str:
        """The manifest this fileset was loaded from (absolute; "" if built in memory)."""
        return self._source

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


def _check_consistency(manifest: Path, fs: Fileset) -> None:
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


def load_fileset(path: str | Path, verify_checksums: bool = False) -> Fileset:
    """Read and validate a manifest; file paths come back absolute."""
    manifest = Path(path)
    fs = read_document(manifest, Fileset, format_name=FILESET_FORMAT, versions=(FILESET_VERSION,))
    base = manifest.resolve().parent
    files = [
        entry.model_copy(update={"path": str((base / entry.path).resolve())}) for entry in fs.files
    ]
    fs = fs.model_copy(update={"files": files})
    fs._source = str(manifest.resolve())
    _check_consistency(manifest, fs)
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


def as_fileset(fileset: Fileset | str | Path) -> Fileset:
    """A Fileset as it is, or loaded from a manifest path."""
    return fileset if isinstance(fileset, Fileset) else load_fileset(fileset)


def write_fileset(path: str | Path, fileset: Fileset) -> Path:
    """Write ``fileset`` as JSON; paths inside the manifest's folder are stored relative."""
    manifest = Path(path)
    base = manifest.resolve().parent
    files = []
    for entry in fileset.files:
        p = Path(entry.path)
        if p.is_absolute() and p.resolve().is_relative_to(base):
            p = p.resolve().relative_to(base)
        files.append(entry.model_copy(update={"path": p.as_posix()}))
    return write_json(manifest, fileset.model_copy(update={"files": files}))
