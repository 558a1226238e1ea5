"""Content-addressed stages: a stage re-runs only when the hash of its inputs changes.

Each stage writes into its own folder ``<root>/<name>/`` and, when it succeeds, a
``stage.json`` with the hash of its inputs (files by sha256, configuration by canonical JSON,
the code by version and commit) and what it produced. A later call with the same inputs finds
the matching ``stage.json`` and returns the recorded result without running; any change in an
input (a cut value, a file, the calibration) changes the hash and re-runs that stage and, since
their inputs include its outputs' hashes, everything downstream of it. An interrupted stage
leaves no ``stage.json`` and runs again. A stage folder is the toolkit's (marked
``STAGE_MARK``): it is replaced whole when its stage re-runs, and a folder of that name without
the mark is refused, never removed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from na64reco.checksums import sha256_json
from na64reco.documents import write_json
from na64reco.errors import NA64Error
from na64reco.provenance import git_commit, package_versions

logger = logging.getLogger(__name__)

STAGE_FILE = "stage.json"
STAGE_MARK = ".na64-stage"  # every stage folder the toolkit made (the only ones it removes)


def code_identity() -> dict:
    """What identifies the code: na64reco and dependency versions and the commit. Uncommitted
    edits are not part of it (an edited cut file must not invalidate every stage: cut sets and
    other inputs are hashed by content); after editing code, run with ``force``."""
    return {"versions": package_versions(), "commit": git_commit()["commit"]}


@dataclass
class StageResult:
    name: str
    folder: Path
    reused: bool
    inputs_hash: str
    outputs: dict
    seconds: float


class StageRunner:
    """Runs stages under ``root``, skipping those whose inputs have not changed."""

    def __init__(self, root: str | Path, force: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.force = force
        self.code = code_identity()
        self.results: dict[str, StageResult] = {}

    def run(self, name: str, inputs: dict, func: Callable[[Path], dict]) -> StageResult:
        """Run ``func(folder) -> outputs`` unless a previous run had the same ``inputs``."""
        folder = self.root / name
        key = sha256_json({"inputs": inputs, "code": self.code})
        record = folder / STAGE_FILE
        if not self.force and record.exists():
            try:
                saved = json.loads(record.read_text())
            except ValueError:
                saved = {}
            if saved.get("inputs_hash") == key:
                logger.info("stage %s: inputs unchanged, reusing %s", name, folder)
                result = StageResult(name, folder, True, key, saved.get("outputs", {}), 0.0)
                self.results[name] = result
                return result
        if folder.exists():
            if not (folder / STAGE_MARK).is_file() and not record.is_file():
                raise NA64Error(
                    f"{folder}: not a stage folder of this toolkit (no {STAGE_MARK}); nothing "
                    "removed: give the chain another output folder or move it away"
                )
            shutil.rmtree(folder)  # the toolkit's stage folder: replaced whole
        folder.mkdir(parents=True)
        (folder / STAGE_MARK).write_text("a stage of na64 analyze: replaced whole on re-run\n")
        start = time.perf_counter()
        outputs = func(folder)
        seconds = time.perf_counter() - start
        record_doc = {
            "stage": name,
            "inputs_hash": key,
            "inputs": inputs,
            "outputs": outputs,
            "seconds": seconds,
        }
        write_json(record, record_doc, sort_keys=True)
        result = StageResult(name, folder, False, key, outputs, seconds)
        self.results[name] = result
        return result


__all__ = ["StageResult", "StageRunner", "code_identity"]
