"""``results.json``: every number of ``na64 analyze``'s report (schema version 1).

Made from the stage folders only (``na64reco.pipeline.results.build_results``): the run
summaries, the background document, the efficiencies and the limit documents, each embedded
with its own schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from na64reco.schemas.background import EfficiencyRow, Exposure, PeriodBackground
from na64reco.schemas.common import Document, Provenance, Strict
from na64reco.schemas.limit import LimitDocument
from na64reco.schemas.summary import Blinding

RESULTS_FORMAT = "na64-results"
RESULTS_VERSION = 1

__all__ = ["RESULTS_FORMAT", "RESULTS_VERSION", "AnalysisResults"]


class ResultsBlinding(Blinding):
    observed: dict[str, int] | None = None  # box count per period, once unblinded


class FilesetRecord(Strict):
    path: str
    name: str
    files: int
    events: int
    eot: float | None


class StageRecord(Strict):
    name: str
    reused: bool
    seconds: float
    folder: str


class CutSetName(Strict):
    name: str
    version: int


class RunRecord(Strict):
    folder: str
    cutflow: dict[str, dict[str, int | None]]
    events: int
    cutset: CutSetName
    blinding: Blinding


class CalibrationRecord(Strict):
    name: str
    version: int
    period: str
    runs: list[int]
    flagged: dict[str, int]


class ResultsProvenance(Provenance):
    model_config = ConfigDict(extra="forbid")

    inputs: list[dict[str, str | int]]
    calibration: dict[str, str]
    cutsets: dict[str, CutSetName]
    seeds: list[int]
    executor: dict
    command: str | None


class AnalysisResults(Document):
    format: Literal["na64-results"] = RESULTS_FORMAT
    version: Literal[1] = RESULTS_VERSION
    blinding: ResultsBlinding
    fileset: FilesetRecord
    stages: list[StageRecord]
    runs: dict[str, RunRecord]
    exposure: dict[str, Exposure]
    calibration: list[CalibrationRecord]
    background: list[PeriodBackground]
    efficiencies: list[EfficiencyRow]
    limits: dict[str, LimitDocument]
    provenance: ResultsProvenance
    wall_seconds: float
