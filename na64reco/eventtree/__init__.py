"""The NA64 event tree: contract, writer, validating reader, coffea schema.

Data flows one way: ``contract`` (names, dtypes, shapes) -> ``metadata`` (JSON object in the
file) -> ``writer`` / ``reader`` (uproot) -> ``nanoevents`` (coffea view of the same tree).
The names below are imported on first use, so that importing the contract alone stays light.
"""

from __future__ import annotations

from na64reco.lazy import lazy_exports

_API = {
    "KNOWN_SCHEMA_VERSIONS": "na64reco.eventtree.contract",
    "SCHEMA_VERSION": "na64reco.eventtree.contract",
    "METADATA_KEYS": "na64reco.eventtree.metadata",
    "EventFile": "na64reco.eventtree.reader",
    "open_event_file": "na64reco.eventtree.reader",
    "read_metadata": "na64reco.eventtree.reader",
    "EventTreeWriter": "na64reco.eventtree.writer",
    "content_digest": "na64reco.eventtree.writer",
    "write_events": "na64reco.eventtree.writer",
    "NA64Schema": "na64reco.eventtree.nanoevents",
}
__all__ = sorted(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
