"""``summary.json``: the record of one run of a selection (``na64 run``), schema version 1.

Written last by ``na64reco.run.run_analysis``, so its presence marks a complete set of outputs;
read by the background stage, the report and the plots. ``blinding`` is the record of
``na64reco.blinding.record.BlindingRecord``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from na64reco.blinding.record import BlindingRecord
from na64reco.schemas.common import Document, Provenance, Strict

SUMMARY_FORMAT = "na64-run-summary"
SUMMARY_VERSION = 1

__all__ = [
    "SUMMARY_FORMAT",
    "SUMMARY_VERSION",
    "AccountingRow",
    "BadFile",
    "Blinding",
    "Flag",
    "RunProvenance",
    "RunSummary",
]


Blinding = BlindingRecord  # the record of na64reco.blinding (definition, regions, ledger)


class Flag(Strict):
    """A legitimate but unusual value, recorded (saturated readings, gains far from nominal)."""

    item: str
    problem: str


class AccountingRow(Strict):
    """One input file: processed + skipped == entries, with the reason for any skip."""

    path: str
    kind: str
    entries: int = Field(ge=0)
    processed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    reason: str | None


class BadFile(Strict):
    path: str
    kind: str
    entries: int = Field(ge=0)
    item: str
    reason: str


class SkimFile(Strict):
    path: str = Field(description="relative to the output folder")
    events: int = Field(ge=0)
    period: str
    inputs: list[str]
    exposure_fraction: float = Field(ge=0, le=1)
    sha256: str


class Skims(Strict):
    """The skims of ``na64 run --skim STAGE`` (na64reco.run.skim)."""

    stage: str
    manifest: str = Field(description="their fileset manifest, relative to the output folder")
    files: list[SkimFile]


class Outputs(Strict):
    histograms_root: str
    histograms_json: str
    sideband_events: str
    histograms: list[str]
    skims: Skims | None = None
    cutflow_histograms: list[str] = Field(
        default_factory=list, description="histograms.root: the cutflow TH1 of each period"
    )
    variations: str | None = Field(
        None, description="variations.json: per-variation cutflows and sideband (if declared)"
    )
    variation_histograms: list[str] = Field(
        default_factory=list,
        description="histograms.root: E_ECAL sideband, nominal and <name>__up/__down",
    )


class Metrics(Strict):
    """coffea's metrics of the event loop plus the run's own wall time."""

    model_config = ConfigDict(extra="allow")  # coffea may add metrics

    wall_s: float
    entries: int | None = None
    processtime: float | None = None
    bytesread: int | None = None
    chunks: int | None = None
    columns: list[str] | None = None


class Resume(Strict):
    resumed: bool
    checkpoint_dir: str
    chunks_reused: int
    chunks_processed: int


class InputRecord(Strict):
    path: str
    sha256: str
    checksum: Literal["computed", "cache", "manifest"]
    events: int
    input_map: dict[str, Any] | None = Field(
        None, description="the input map the file was read through (name, sha256, absent cells)"
    )


class CalibrationSetRecord(Strict):
    name: str
    version: int
    period: str
    run_min: int
    run_max: int


class CalibrationRecord(Strict):
    path: str
    sha256: str
    sets: list[CalibrationSetRecord]


class CutSetRecord(Strict):
    name: str
    version: int
    source: str


class Validation(Strict):
    where: str
    checksums: dict[str, int]
    contract: dict[str, int]


class RunProvenance(Provenance):
    model_config = ConfigDict(extra="forbid")

    inputs: list[InputRecord]
    fileset: str
    kinds: list[str]
    calibration: CalibrationRecord
    cutset: CutSetRecord
    executor: dict[str, Any]
    validation: Validation
    chunksize: int
    maxchunks: int | None
    unblind: bool


class RunSummary(Document):
    format: Literal["na64-run-summary"] = SUMMARY_FORMAT
    version: Literal[1] = SUMMARY_VERSION
    analysis: str
    cutset: dict[str, Any] = Field(description="the cut set as run (CutSet.as_dict())")
    blinding: Blinding
    cutflow: dict[str, dict[str, int | None]] = Field(
        description="per period: events after each cut; signal-region cuts null while blinded"
    )
    accounting: list[AccountingRow]
    bad_files: list[BadFile]
    skipped: list[AccountingRow]
    flags: list[Flag] = Field(
        default_factory=list, description="recorded flags: saturated readings, unusual gains"
    )
    sideband_events: int
    outputs: Outputs
    metrics: Metrics
    resume: Resume | None
    provenance: RunProvenance
    plots: str = "not requested"

    @property
    def events_processed(self) -> int:
        return sum(r.processed for r in self.accounting)
