"""Chunk checkpoints: resume an interrupted run from the chunks it finished.

A ``ChunkCheckpointer`` is coffea's checkpointer hook (``Runner(checkpointer=...)``): each
finished chunk's output is saved atomically and reloaded on resume. A checkpoint lives at
``<dir>/<key>/<file>/<entrystart>-<entrystop>.ckpt``: ``<key>`` hashes everything that decides
a chunk's output (cut set, calibration file sha256, code digest, na64reco version, blinding,
processor), ``<file>`` the input's path and sha256. ``save`` runs where the chunk was processed
(main process, pool or Dask worker) and writes a temporary file then renames it, so a killed run
leaves whole checkpoints only.

Nothing read back is code: a checkpoint is one JSON header line (format, the key's sha256, the
chunk) followed by the output in ``na64reco.run.datacodec`` (JSON of plain data and histograms,
lz4-compressed; no pickle). ``load`` checks the header against this run's key and chunk before
it decodes anything, and returns None (with a warning) for any mismatch or unreadable file, so
a stale, damaged or planted file is never used: the chunk is processed again.

The checkpoint folder is the toolkit's: created and marked by it (``OWNER_MARK``), or adopted
when given empty; a folder holding anything else is refused (``OptionsError``), so
``--checkpoint-dir`` can never point the clean-up at someone's data. Removing checkpoints
removes only files of the names the toolkit writes (``key.json``, ``*.ckpt``) and the folders
that are empty then.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from coffea.processor import CheckpointerABC

from na64reco.checksums import sha256_json
from na64reco.documents import write_bytes
from na64reco.errors import OptionsError
from na64reco.run import datacodec
from na64reco.run.coffea_adapter import work_item, work_item_fields

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = ".checkpoint"  # default: inside the output folder
KEY_FILE = "key.json"
OWNER_MARK = ".na64-checkpoints"  # in a checkpoint folder the toolkit created or adopted
SUFFIX = ".ckpt"
FORMAT = "na64-checkpoint"
MAX_HEADER = 1 << 16  # bytes: a longer first line is not a checkpoint header
_HASH_NAME = re.compile(r"^[0-9a-f]{24}$")
# the temporary name of a checkpoint being written (``documents.atomic_path``): a killed save
_PARTIAL = re.compile(r"^\..*\.ckpt\.\d+\.[0-9a-f]{8}\.tmp$")

__all__ = ["CHECKPOINT_DIR", "KEY_FILE", "OWNER_MARK", "ChunkCheckpointer"]


def _remove_ours(folder: Path) -> None:
    """Remove the checkpoint files of a key folder (``key.json``, ``<file>/<chunk>.ckpt`` and
    the partial files of killed saves) and the folders then empty; anything else stays."""
    if not folder.is_dir():
        return
    for sub in folder.iterdir():
        if sub.is_dir() and _HASH_NAME.match(sub.name):
            for f in sub.iterdir():
                if f.is_file() and (f.name.endswith(SUFFIX) or _PARTIAL.match(f.name)):
                    f.unlink()
            with contextlib.suppress(OSError):
                sub.rmdir()
    (folder / KEY_FILE).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        logger.warning("left %s in place: it holds files the toolkit did not write", folder)


class ChunkCheckpointer(CheckpointerABC):
    """coffea checkpointer: each finished chunk's output saved atomically, reloaded on resume."""

    def __init__(self, directory: str | Path, key: dict, file_sha256: dict[str, str]):
        self.directory = Path(directory)
        self.key = key
        self.key_sha256 = sha256_json(key)
        self.key_hash = self.key_sha256[:24]
        self.file_sha256 = dict(file_sha256)

    @property
    def root(self) -> Path:
        """The folder of this key's checkpoints."""
        return self.directory / self.key_hash

    def _chunk(self, metadata: Any) -> dict:
        path = metadata["filename"]
        return {
            "path": path,
            "sha256": self.file_sha256.get(path),
            "entrystart": int(metadata["entrystart"]),
            "entrystop": int(metadata["entrystop"]),
        }

    def filepath(self, metadata: Any) -> Path:
        chunk = self._chunk(metadata)
        file_id = hashlib.sha256(f"{chunk['path']}\0{chunk['sha256']}".encode()).hexdigest()
        name = f"{chunk['entrystart']}-{chunk['entrystop']}{SUFFIX}"
        return self.root / file_id[:24] / name

    def _own_directory(self) -> None:
        """Create and mark the folder, adopt it empty, or refuse it (OptionsError)."""
        d = self.directory
        if (d / OWNER_MARK).is_file():
            return
        if d.exists():
            if not d.is_dir():
                raise OptionsError("checkpoint_dir", f"{d} is not a folder")
            foreign = sorted(p.name for p in d.iterdir())
            if foreign:
                raise OptionsError(
                    "checkpoint_dir",
                    f"{d} holds files the toolkit did not create ({', '.join(foreign[:5])}"
                    f"{', ...' if len(foreign) > 5 else ''}): give a new or empty folder",
                )
        d.mkdir(parents=True, exist_ok=True)
        write_bytes(d / OWNER_MARK, b"checkpoints of na64reco runs: the toolkit's folder\n")

    def prepare(self, resume: bool) -> int:
        """Set up the folder; drop other keys' checkpoints unless resuming (then warn about
        them). Returns the number of stale key folders found."""
        self._own_directory()
        stale = [
            d
            for d in self.directory.iterdir()
            if d.is_dir()
            and d.name != self.key_hash
            and _HASH_NAME.match(d.name)
            and (d / KEY_FILE).is_file()
        ]
        if resume:
            if stale:
                logger.warning(
                    "ignoring checkpoints in %s made with another cut set, calibration, input "
                    "file, code version or blinding: %s",
                    self.directory,
                    ", ".join(d.name for d in stale),
                )
            if not self.root.is_dir():
                logger.warning("resume: no checkpoint of this configuration in %s", self.directory)
        else:
            for d in [*stale, self.root]:
                _remove_ours(d)
        self.root.mkdir(parents=True, exist_ok=True)
        write_bytes(self.root / KEY_FILE, json.dumps(self.key, indent=1, sort_keys=True).encode())
        return len(stale)

    def _header(self, metadata: Any) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "key_sha256": self.key_sha256,
            "chunk": self._chunk(metadata),
        }

    def load(self, metadata: Any, processor_instance: Any = None) -> Any:
        path = self.filepath(metadata)
        if not path.is_file():
            return None
        try:
            data = path.read_bytes()
            head, sep, _payload = data[:MAX_HEADER].partition(b"\n")
            header = json.loads(head) if sep else None
        except (OSError, ValueError) as exc:
            logger.warning("checkpoint %s unreadable, chunk processed again: %s", path, exc)
            return None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            logger.warning(
                "checkpoint %s unreadable (not a checkpoint): chunk processed again", path
            )
            return None
        expected = self._header(metadata)
        if header.get("key_sha256") != expected["key_sha256"]:
            logger.warning("checkpoint %s is from another configuration: not used", path)
            return None
        if header.get("chunk") != expected["chunk"]:
            logger.warning("checkpoint %s is for another chunk: not used", path)
            return None
        try:  # only now, the header matching, is the payload decoded (data, never code)
            output = datacodec.loads(data[len(head) + 1 :])
            if isinstance(output, dict) and "processed" in output:
                output["processed"] = {work_item(f) for f in output["processed"]}
            return output
        except (datacodec.DecodeError, TypeError) as exc:
            logger.warning("checkpoint %s unreadable, chunk processed again: %s", path, exc)
            return None

    def save(self, output: Any, metadata: Any, processor_instance: Any = None) -> None:
        path = self.filepath(metadata)
        try:
            header = json.dumps(self._header(metadata), sort_keys=True).encode()
            if isinstance(output, dict) and "processed" in output:  # coffea's WorkItem set
                processed = [work_item_fields(i) for i in output["processed"]]
                output = {**output, "processed": processed}
            data = header + b"\n" + datacodec.dumps(output)
        except TypeError as exc:  # an output the codec does not know: no resume for it
            logger.warning("cannot checkpoint %s: %s", path, exc)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(path, data, fsync=True)
        except OSError as exc:  # the run stays correct; only its resume is lost
            logger.warning("cannot write checkpoint %s: %s", path, exc)

    def remove(self) -> None:
        """Remove this key's checkpoints (and the folder, if then holds only its mark)."""
        _remove_ours(self.root)
        with contextlib.suppress(OSError):
            if [p.name for p in self.directory.iterdir()] == [OWNER_MARK]:
                (self.directory / OWNER_MARK).unlink()
                self.directory.rmdir()
