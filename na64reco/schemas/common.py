"""Pieces shared by the output documents: the strict base model and the provenance block."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Document", "Provenance", "SourceState", "Strict"]


class Strict(BaseModel):
    """Unknown keys are errors; numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SourceState(Strict):
    commit: str | None
    dirty: bool | None


class Provenance(BaseModel):
    """Versions, commit and time of every output; each document adds its own settings (inputs
    with checksums, calibration, cut set, executor, seeds, command...)."""

    model_config = ConfigDict(extra="allow")

    versions: dict[str, str]
    source: SourceState
    created: str


class Document(Strict):
    """A versioned output document: ``format`` names the kind, ``version`` its schema."""

    format: str
    version: int
