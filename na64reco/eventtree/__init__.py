"""The NA64 event tree: contract, writer, validating reader, coffea schema.

Data flows one way: ``contract`` (names, dtypes, shapes) -> ``metadata`` (JSON object in the
file) -> ``writer`` / ``reader`` (uproot) -> ``nanoevents`` (coffea view of the same tree).
``NA64Schema`` is imported lazily so that importing this package does not import coffea.
"""

from __future__ import annotations

from na64reco.eventtree.contract import KNOWN_SCHEMA_VERSIONS, SCHEMA_VERSION
from na64reco.eventtree.metadata import METADATA_KEYS
from na64reco.eventtree.reader import EventFile, open_event_file, read_metadata
from na64reco.eventtree.writer import EventTreeWriter, content_digest, write_events

__all__ = [
    "KNOWN_SCHEMA_VERSIONS",
    "METADATA_KEYS",
    "SCHEMA_VERSION",
    "EventFile",
    "EventTreeWriter",
    "NA64Schema",
    "content_digest",
    "open_event_file",
    "read_metadata",
    "write_events",
]


def __getattr__(name: str):
    if name == "NA64Schema":
        from na64reco.eventtree.nanoevents import NA64Schema

        return NA64Schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
