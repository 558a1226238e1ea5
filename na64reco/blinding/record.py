"""The blinding record every output carries, and the checks that refuse a record that does not
match.

``BlindingRecord`` (``summary.json``'s ``blinding``, also in ``results.json`` and
``report.html``) says which definition hid which regions with which constants, which regions
this output opened (with its ledger entry) and every unblinding recorded in the folder's
ledger. ``check_record`` is what ``na64 background`` applies to run outputs: the record must
name the current definition and the constants it names, hide or explicitly open every region,
agree with what the output says of itself, and every unblinding it lists must be in its ledger.

``ChainRecord`` is what the documents made from run outputs carry on (``background.json``,
``limit_inputs.json``, ``limit_<model>.json``): the definition, whether the box is open, the
unblinding that opened it (and the ledger holding it) and the ledgers' entries;
``check_chain_record`` is what ``na64 limit`` applies. Anything that does not match is a
ConfigError naming the file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from na64reco.blinding.definition import BLINDING, definition_record
from na64reco.blinding.ledger import Ledger, LedgerEntry
from na64reco.errors import ConfigError

__all__ = [
    "BlindingRecord",
    "CalibrationUsed",
    "ChainRecord",
    "DefinitionRecord",
    "LedgerRecord",
    "check_chain_record",
    "check_record",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DefinitionRecord(_Strict):
    version: int
    sha256: str


class CalibrationUsed(_Strict):
    """The constants the regions were evaluated with."""

    file: str
    sha256: str
    other_periods: str


class LedgerRecord(_Strict):
    path: str
    entries: list[LedgerEntry] = Field(description="every unblinding the ledger held")


class BlindingRecord(_Strict):
    blinded: bool = Field(description="true: no blinded region is visible in this output")
    definition: DefinitionRecord
    calibration: CalibrationUsed
    regions_hidden: list[str]
    regions_opened: list[str]
    signal_box_hidden: list[str] = Field(
        default_factory=list,
        description="the cuts of the cut set's own signal box, hidden too (run's calibration)",
    )
    unblinded_at: str | None = None
    unblinded_by: str | None = None
    unblinding: LedgerEntry | None = Field(None, description="this output's own unblinding")
    ledger: LedgerRecord


def check_record(
    record: BlindingRecord | dict | None,
    where: str | Path,
    *,
    key: str = "blinding",
    blinded: bool | None = None,
) -> BlindingRecord:
    """The record, validated against the current definition and its ledger (see the module
    docstring); ``blinded``: what the output claims of itself (must agree)."""
    if record is None:
        raise ConfigError(
            where,
            key,
            "no blinding record: an output of an older na64reco or edited by hand, not usable",
        )
    if not isinstance(record, BlindingRecord):
        try:
            record = BlindingRecord.model_validate(record)
        except ValueError as exc:
            raise ConfigError(where, key, f"not a blinding record: {exc}") from None
    current = definition_record()
    if record.definition.model_dump() != current:
        raise ConfigError(
            where,
            f"{key}.definition",
            f"made with the blinding definition v{record.definition.version} "
            f"({record.definition.sha256[:12]}...), the current one is v{current['version']} "
            f"({current['sha256'][:12]}...): run it again",
        )
    if record.calibration.sha256 != BLINDING.calibration.sha256:
        raise ConfigError(
            where,
            f"{key}.calibration",
            f"regions evaluated with constants of sha256 {record.calibration.sha256}, the "
            f"definition names {BLINDING.calibration.sha256}",
        )
    covered = set(record.regions_hidden) | set(record.regions_opened)
    missing = [name for name in BLINDING.names if name not in covered]
    if missing:
        raise ConfigError(
            where,
            f"{key}.regions_hidden",
            f"the region(s) {missing} were neither hidden nor opened",
        )
    opened = bool(record.regions_opened or record.unblinding)
    if record.blinded == opened or (blinded is not None and blinded != record.blinded):
        raise ConfigError(
            where,
            f"{key}.blinded",
            f"says blinded={record.blinded} with the region(s) {record.regions_opened} opened"
            + (f", the output says blinded={blinded}" if blinded is not None else "")
            + ": the record does not match",
        )
    listed = list(record.ledger.entries)
    if record.unblinding is not None and record.unblinding not in listed:
        listed.append(record.unblinding)
    Ledger(record.ledger.path).check_holds(listed, where, f"{key}.ledger")
    return record


class ChainRecord(_Strict):
    """The blinding of a document made from run outputs (background, limit inputs, limits)."""

    blinded: bool
    definition: DefinitionRecord
    ledger: list[LedgerEntry] = Field(description="the unblindings of the inputs' ledgers")
    unblinding: LedgerEntry | None = Field(
        None, description="the unblinding whose box count these inputs carry (unblinded only)"
    )
    unblinding_ledger: str | None = Field(None, description="the ledger that holds it")


def check_chain_record(
    record: ChainRecord | dict | None, where: str | Path, *, blinded: bool, key: str = "blinding"
) -> ChainRecord:
    """The record of a background or limit-inputs document, checked: the current definition,
    the same blinding as the document, and an unblinded document opened by a recorded
    unblinding of the invisible region that its ledger holds."""
    if record is None:
        raise ConfigError(where, key, "no blinding record: made by an older na64reco or by hand")
    if not isinstance(record, ChainRecord):
        try:
            record = ChainRecord.model_validate(record)
        except ValueError as exc:
            raise ConfigError(where, key, f"not a blinding record: {exc}") from None
    current = definition_record()
    if record.definition.model_dump() != current:
        raise ConfigError(
            where,
            f"{key}.definition",
            f"made with the blinding definition v{record.definition.version} "
            f"({record.definition.sha256[:12]}...), the current one is v{current['version']} "
            f"({current['sha256'][:12]}...): make it again",
        )
    if record.blinded != blinded:
        raise ConfigError(
            where,
            f"{key}.blinded",
            f"says blinded={record.blinded}, the document says blinded={blinded}: the record "
            "does not match",
        )
    if blinded:
        if record.unblinding is not None:
            raise ConfigError(where, f"{key}.unblinding", "a blinded document lists an unblinding")
        return record
    entry = record.unblinding
    if entry is None or "invisible" not in entry.regions or record.unblinding_ledger is None:
        raise ConfigError(
            where,
            f"{key}.unblinding",
            "unblinded (observed counts) without the recorded unblinding of the invisible "
            "region that opened the box",
        )
    Ledger(record.unblinding_ledger).check_holds([entry], where, f"{key}.unblinding")
    return record
