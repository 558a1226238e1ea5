"""The unblinding ledger: an append-only record of every unblinding, next to the outputs.

Each unblinding appends one JSON line (``LedgerEntry``: who, when, on which host, which
regions, which configuration and its hash, the output folder, the command) to
``unblinding.jsonl`` in the output folder (``na64 run``) or at the top of the ``na64 analyze``
folder; the line is written (and flushed to the disk) before any event is processed, so an
unblinding that fails half-way is recorded too. No re-run removes or rewrites the ledger: the
output folder's policy leaves it alone (``na64reco.run.folder``), and every later output of the
folder carries its entries (``BlindingRecord.ledger``).

Every entry holds the sha256 of the previous one and its own (``previous_sha256``,
``entry_sha256``): reading the ledger checks the chain, so a removed, reordered or edited line
is an error naming the ledger and the line (tamper evidence, not a signature).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from na64reco.checksums import sha256_json
from na64reco.documents import dumps_json
from na64reco.errors import ConfigError

LEDGER_NAME = "unblinding.jsonl"
LEDGER_FORMAT = "na64-unblinding"

__all__ = ["LEDGER_FORMAT", "LEDGER_NAME", "Ledger", "LedgerEntry", "user_name"]


class LedgerEntry(BaseModel):
    """One unblinding."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    format: Literal["na64-unblinding"] = LEDGER_FORMAT
    version: Literal[1] = 1
    time: str
    user: str
    host: str
    regions: list[str]  # the protected regions opened
    signal_box: list[str]  # the cuts of the cut set's own signal box opened
    analysis: str
    configuration_sha256: str
    configuration: dict[str, Any]
    output: str
    command: str | None
    previous_sha256: str | None
    entry_sha256: str


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return os.environ.get("USER", "unknown")


def _digest(fields: dict) -> str:
    return sha256_json({k: v for k, v in fields.items() if k != "entry_sha256"})


class Ledger:
    """The ledger file at ``path`` (created on the first append)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def entries(self) -> list[LedgerEntry]:
        """Every entry, the chain checked; [] if there is no ledger yet."""
        try:
            text = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(self.path, "(file)", f"unblinding ledger unreadable: {exc}") from exc
        return self._parse(text)

    def _parse(self, text: str) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        previous = None
        for i, line in enumerate(text.splitlines(), start=1):
            try:
                fields = json.loads(line)
                entry = LedgerEntry.model_validate(fields)
            except (ValueError, ValidationError) as exc:
                raise ConfigError(self.path, f"line {i}", f"not a ledger entry: {exc}") from None
            if entry.entry_sha256 != _digest(fields):
                raise ConfigError(
                    self.path, f"line {i}", "the entry was edited (its sha256 does not match)"
                )
            if entry.previous_sha256 != previous:
                raise ConfigError(
                    self.path,
                    f"line {i}",
                    "the ledger was edited: the entry does not follow the one before it "
                    "(a line was removed, reordered or inserted)",
                )
            previous = entry.entry_sha256
            out.append(entry)
        return out

    def append(self, **fields: Any) -> LedgerEntry:
        """Append an entry (``fields``: every LedgerEntry field but the chain) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # two unblindings at once: one after the other
            try:
                fh.seek(0)
                entries = self._parse(fh.read().decode("utf-8"))
                record = {
                    "format": LEDGER_FORMAT,
                    "version": 1,
                    **fields,
                    "previous_sha256": entries[-1].entry_sha256 if entries else None,
                }
                record["entry_sha256"] = _digest(record)
                entry = LedgerEntry.model_validate(record)
                fh.write((dumps_json(entry.model_dump(mode="json"), indent=None) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(fh, fcntl.LOCK_UN)
        return entry

    def check_holds(self, entries: list[LedgerEntry], where: str | Path, key: str) -> None:
        """ConfigError(where, key) unless every one of ``entries`` is in this ledger."""
        if not entries:
            return
        if not self.path.is_file():
            raise ConfigError(
                where,
                key,
                f"records {len(entries)} unblinding(s) of the ledger {self.path}, which is "
                "missing: outputs stay next to their ledger",
            )
        held = {e.entry_sha256 for e in self.entries()}
        for entry in entries:
            if entry.entry_sha256 not in held:
                raise ConfigError(
                    where,
                    key,
                    f"records the unblinding of {entry.time} by {entry.user} that the ledger "
                    f"{self.path} does not hold: the record or the ledger was edited",
                )


def host_name() -> str:
    return socket.gethostname()
