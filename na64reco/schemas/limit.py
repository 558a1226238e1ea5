"""``limit_<model>.json``: 90% CL limits of one model versus mass (schema version 1).

Written by ``na64reco.pipeline.limits.limit_document`` for ``na64 limit`` and ``na64 analyze``
alike. Bands are keyed by ``na64reco.limits.statistics.BAND_KEYS`` (median, +-1 and +-2 sigma);
observed entries are null while the inputs are blinded; undefined numbers are null. Inputs with
named nuisances add ``systematics`` and ``ranking`` (absent otherwise: null).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from na64reco.blinding.record import ChainRecord
from na64reco.schemas.common import Document, Provenance, Strict

LIMIT_FORMAT = "na64-limit"
LIMIT_VERSION = 1

__all__ = ["LIMIT_FORMAT", "LIMIT_VERSION", "LimitDocument"]


class Band(Strict):
    """Expected limits per band key and the observed ones, one value per mass."""

    expected: dict[str, list[float | None]]
    observed: list[float | None] | None


class DeltaA(Strict):
    lepton: str
    expected_median: list[float | None]
    observed: list[float | None] | None


class Blinding(Strict):
    blinded: bool
    observed: str | None
    record: ChainRecord | None = None  # None: external inputs (published numbers)


class LimitProvenance(Provenance):
    model_config = ConfigDict(extra="forbid")

    command: str | None
    inputs: dict[str, Any]


class LimitDocument(Document):
    format: Literal["na64-limit"] = LIMIT_FORMAT
    version: Literal[1] = LIMIT_VERSION
    title: str
    model: str
    coupling_name: str
    coupling_label: str
    cl: float
    blinded: bool
    method: list[str]
    masses_gev: list[float]
    eot_eff: list[float]
    n_up: Band
    coupling: Band
    g2_band: list[list[float | None]] | None
    efficiency: dict[str, list[float]]
    delta_a: DeltaA | None = None
    efficiency_proxy: str | None
    settings: dict[str, Any]
    systematics: list[dict[str, Any]] | None = None  # limit_inputs v2: one row per period, nuisance
    ranking: dict[str, Any] | None = None  # impacts of the named nuisances on N_up
    inputs: dict[str, Any]
    blinding: Blinding
    provenance: LimitProvenance
    seconds: float
