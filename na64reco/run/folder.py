"""The output folder's policy: the toolkit replaces its own set of outputs, whole, and nothing else.

An output folder holds at most one *set* of outputs (``summary.json`` and what it lists; for
``na64 analyze``, ``results.json`` and ``report.html``), recorded in ``.na64-outputs.json`` with
the sha256 of every file the toolkit wrote. A new run into the folder:

1. refuses to start if a file of the set's fixed names is there but not recorded (a foreign
   file, or the output of an older na64reco: the toolkit never deletes what it did not create);
   a recorded file changed since it was written is refused the same way;
2. removes the previous set (its recorded files, ``summary.json`` first), so that no old output
   can be taken for a result of this run, whatever happens next;
3. writes the new set into a staging folder (``.na64-staging-<id>``) and, once every file is
   complete, moves it in, the record and then the last file (``summary.json``) at the end: the
   folder never holds a mix of two runs' files, and a failed run leaves no set at all.

Everything else in the folder stays: files of other origin, the unblinding ledger
(``unblinding.jsonl``), the checkpoints, the stages of ``na64 analyze``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from na64reco.checksums import sha256_file
from na64reco.documents import write_json
from na64reco.errors import ConfigError, NA64Error

logger = logging.getLogger(__name__)

MARKER = ".na64-outputs.json"
STAGING_PREFIX = ".na64-staging-"
STAGING_MARK = ".na64-staging"

__all__ = ["MARKER", "OutputFolder"]


class OutputFolder:
    """The set of outputs the toolkit keeps in ``path`` (see the module docstring)."""

    def __init__(
        self, path: str | Path, fixed_names: Iterable[str], kind: str = "na64 run"
    ) -> None:
        self.path = Path(path)
        self.fixed_names = tuple(fixed_names)
        self.kind = kind

    def recorded(self) -> dict[str, str]:
        """The previous set: file (relative path) -> sha256; {} if none. NA64Error if the
        folder holds the set of another command (a folder holds one kind of outputs)."""
        marker = self.path / MARKER
        if not marker.is_file():
            return {}
        try:
            doc = json.loads(marker.read_text())
            files = dict(doc["files"])
            kind = doc.get("kind", "na64 run")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(marker, "files", f"unreadable record of the outputs: {exc}") from None
        if kind != self.kind:
            raise NA64Error(
                f"{self.path}: holds the outputs of {kind}, not of {self.kind}; nothing is "
                "removed: write to another folder"
            )
        for name in files:
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ConfigError(marker, "files", f"{name!r} is not a file of this folder")
        return files

    def prepare(self) -> None:
        """Steps 1 and 2: refuse foreign or changed files, remove the previous set."""
        self.path.mkdir(parents=True, exist_ok=True)
        recorded = self.recorded()
        foreign = [n for n in self.fixed_names if (self.path / n).exists() and n not in recorded]
        if foreign:
            raise NA64Error(
                f"{self.path}: holds {', '.join(foreign)} that this toolkit did not record as "
                f"its output (no {MARKER} entry: a foreign file or an older na64reco's output); "
                "nothing is removed: write to another folder or move them away"
            )
        changed = [
            n
            for n, sha in recorded.items()
            if (self.path / n).is_file() and sha256_file(self.path / n) != sha
        ]
        if changed:
            raise NA64Error(
                f"{self.path}: {', '.join(changed)} changed since the toolkit wrote them; "
                "nothing is removed: write to another folder or move them away"
            )
        self._remove_stale_staging()
        order = sorted(recorded, key=lambda n: n != self.fixed_names[0])  # summary.json first
        for name in order:
            (self.path / name).unlink(missing_ok=True)
            self._remove_empty_parents(self.path / name)
        (self.path / MARKER).unlink(missing_ok=True)
        if recorded:
            logger.info("removed the previous outputs in %s (%d files)", self.path, len(recorded))

    def staging(self) -> Path:
        """A fresh, marked staging folder inside the output folder."""
        folder = self.path / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True)
        (folder / STAGING_MARK).write_text("outputs being written by na64reco\n")
        return folder

    def commit(self, staging: Path, last: str) -> dict[str, str]:
        """Step 3: move the staged files in (``last`` at the very end); returns the record."""
        names = sorted(
            p.relative_to(staging).as_posix()
            for p in staging.rglob("*")
            if p.is_file() and p.name != STAGING_MARK
        )
        taken = [n for n in names if (self.path / n).exists()]
        if taken:
            raise NA64Error(
                f"{self.path}: {', '.join(taken[:5])} exist and were not written by this "
                "toolkit; nothing is replaced: write to another folder or move them away"
            )
        record = {n: sha256_file(staging / n) for n in names}
        for name in [n for n in names if n != last]:
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
        write_json(
            self.path / MARKER,
            {"format": "na64-outputs", "version": 1, "kind": self.kind, "files": record},
        )
        if last in names:
            os.replace(staging / last, self.path / last)
        self.discard(staging)
        return record

    def discard(self, staging: Path) -> None:
        """Remove a staging folder (only the files staged there)."""
        if not (staging / STAGING_MARK).is_file():
            return
        for p in sorted(staging.rglob("*"), key=lambda p: -len(p.parts)):
            if p.is_file() or p.is_symlink():
                p.unlink()
            else:
                with contextlib.suppress(OSError):
                    p.rmdir()
        with contextlib.suppress(OSError):
            staging.rmdir()

    def _remove_stale_staging(self) -> None:
        """Staging folders of killed runs (marked as the toolkit's) are removed."""
        for folder in self.path.glob(f"{STAGING_PREFIX}*"):
            if folder.is_dir() and (folder / STAGING_MARK).is_file():
                self.discard(folder)

    def _remove_empty_parents(self, path: Path) -> None:
        parent = path.parent
        while parent != self.path and parent.is_relative_to(self.path):
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent
