"""Blinding as a property of the data: the protected regions, the unblinding ledger, the record.

``definition``: the versioned definition of every blinded region of the shipped analyses (in
code, not in a cut set) and the constants they are evaluated with; ``ledger``: the append-only
record of every unblinding beside the outputs; ``record``: what every output says of its
blinding, and the check the background and limit stages apply to their inputs.
"""

from na64reco.blinding.definition import (
    BLINDING,
    REGION_VARIABLES,
    BlindingDefinition,
    Region,
    check_protected_cutset,
    definition_record,
    load_blinding_calibration,
    region_masks,
)
from na64reco.blinding.ledger import LEDGER_NAME, Ledger, LedgerEntry
from na64reco.blinding.record import BlindingRecord, check_record

__all__ = [
    "BLINDING",
    "LEDGER_NAME",
    "REGION_VARIABLES",
    "BlindingDefinition",
    "BlindingRecord",
    "Ledger",
    "LedgerEntry",
    "Region",
    "check_protected_cutset",
    "check_record",
    "definition_record",
    "load_blinding_calibration",
    "region_masks",
]
