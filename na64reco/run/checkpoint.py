"""Chunk checkpoints: resume an interrupted run from the chunks it finished.

A ``ChunkCheckpointer`` is coffea's checkpointer hook (``Runner(checkpointer=...)``): each
finished chunk's output is saved atomically and reloaded on resume. A checkpoint lives at
``<dir>/<key>/<file>/<entrystart>-<entrystop>.pkl.lz4``: ``<key>`` hashes everything that decides
a chunk's output (cut set, calibration file sha256, code digest, na64reco version, blinding,
processor), ``<file>`` the input's path and sha256. The payload repeats the key and the chunk,
and ``load`` returns None (with a warning) for any mismatch or unreadable file, so a stale or
damaged checkpoint is never used: the chunk is processed again. ``save`` runs where the chunk
was processed (main process, pool or Dask worker) and writes a temporary file then renames it,
so a killed run leaves whole checkpoints only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import shutil
from pathlib import Path
from typing import Any

import lz4.frame
from coffea.processor import CheckpointerABC

from na64reco.checksums import sha256_json
from na64reco.documents import write_bytes

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = ".checkpoint"  # default: inside the output folder
KEY_FILE = "key.json"

__all__ = ["CHECKPOINT_DIR", "KEY_FILE", "ChunkCheckpointer"]


class ChunkCheckpointer(CheckpointerABC):
    """coffea checkpointer: each finished chunk's output saved atomically, reloaded on resume."""

    def __init__(self, directory: str | Path, key: dict, file_sha256: dict[str, str]):
        self.directory = Path(directory)
        self.key = key
        self.key_hash = sha256_json(key)[:24]
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
        name = f"{chunk['entrystart']}-{chunk['entrystop']}.pkl.lz4"
        return self.root / file_id[:24] / name

    def prepare(self, resume: bool) -> int:
        """Set up the folder; drop other keys' checkpoints unless resuming (then warn about
        them). Returns the number of stale key folders found."""
        stale = []
        if self.directory.is_dir():
            stale = [
                d
                for d in self.directory.iterdir()
                if d.is_dir() and d.name != self.key_hash and (d / KEY_FILE).is_file()
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
                shutil.rmtree(d, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        write_bytes(self.root / KEY_FILE, json.dumps(self.key, indent=1, sort_keys=True).encode())
        return len(stale)

    def load(self, metadata: Any, processor_instance: Any = None) -> Any:
        path = self.filepath(metadata)
        if not path.is_file():
            return None
        try:
            payload = pickle.loads(lz4.frame.decompress(path.read_bytes()))
        except Exception as exc:  # a damaged file: process the chunk again
            logger.warning("checkpoint %s unreadable, chunk processed again: %s", path, exc)
            return None
        if not isinstance(payload, dict) or payload.get("key") != self.key:
            logger.warning("checkpoint %s is from another configuration: not used", path)
            return None
        if payload.get("chunk") != self._chunk(metadata):
            logger.warning("checkpoint %s is for another chunk: not used", path)
            return None
        return payload["output"]

    def save(self, output: Any, metadata: Any, processor_instance: Any = None) -> None:
        path = self.filepath(metadata)
        payload = {"key": self.key, "chunk": self._chunk(metadata), "output": output}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = lz4.frame.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            write_bytes(path, data, fsync=True)
        except OSError as exc:  # the run stays correct; only its resume is lost
            logger.warning("cannot write checkpoint %s: %s", path, exc)

    def remove(self) -> None:
        """Remove this key's checkpoints (and the folder, if then empty)."""
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()
