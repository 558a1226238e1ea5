"""The options of a run: one typed, validated object, built once and handed down.

``RunOptions`` holds how a run executes (executor, workers, scheduler, chunk size), what it
reads (file kinds, calibration and the tolerance of its gains, checksum policy, bad files), what
it writes (plots, checkpoints) and its blinding (``unblind``, the ``ledger`` recording it). The CLI
builds one from its flags, a Python caller from keywords, ``na64 analyze`` one per stage from
its own; nothing below re-reads flags. Invalid values raise pydantic's ``ValidationError``
(a ``ValueError``) naming the field, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from na64reco.calibration.sanity import DEFAULT_GAIN_TOLERANCE
from na64reco.errors import OptionsError

EXECUTORS = ("iterative", "futures", "dask")
FILE_KINDS = ("physics", "calibration", "signal", "random")

__all__ = ["EXECUTORS", "FILE_KINDS", "ExecutorOptions", "RunOptions"]


class ExecutorOptions(BaseModel):
    """Where and how chunks are processed (``na64reco.run.executors``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    executor: Literal["iterative", "futures", "dask"] = "iterative"
    workers: int = Field(2, ge=1, description="processes (futures, local Dask cluster)")
    scheduler: str | None = Field(None, description="address of an existing Dask scheduler")
    chunksize: int = Field(100_000, ge=1, description="events per chunk")
    maxchunks: int | None = Field(None, ge=1, description="process at most this many chunks")
    quiet: bool = Field(False, description="no progress output")

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> ExecutorOptions:
        if self.scheduler is not None and self.executor != "dask":
            raise ValueError(f"a scheduler needs the dask executor, not {self.executor!r}")
        return self

    def describe(self) -> dict:
        """The settings that decide the result's content (for stage keys: none of them do)."""
        return self.model_dump()


class RunOptions(BaseModel):
    """Everything a run needs besides its inputs (fileset, cut set) and output folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution: ExecutorOptions = ExecutorOptions()
    calibration: Path | None = Field(None, description="constants file; None: the shipped ones")
    kinds: tuple[Literal["physics", "calibration", "signal", "random"], ...] = ("physics",)
    systematics: Path | None = Field(
        None,
        description="systematic variations to evaluate in the same pass (a TOML of "
        "na64reco.systematics.config); None: none, the outputs of a plain run",
    )
    unblind: bool = Field(
        False,
        description="open the cut set's signal box and the protected region of its name "
        "(recorded in the unblinding ledger); every other protected region stays hidden",
    )
    ledger: Path | None = Field(
        None, description="the unblinding ledger; None: unblinding.jsonl in the output folder"
    )
    gain_tolerance: float = Field(
        DEFAULT_GAIN_TOLERANCE,
        gt=1.0,
        description="a gain more than this factor from the nominal one is an error "
        "(na64reco.calibration.sanity)",
    )
    command: str | None = Field(None, description="the command line, for the records")
    skip_bad_files: bool = False
    verify_checksums: bool = True
    checksum_cache: bool = True
    make_plots: bool = True
    plots: Literal["default", "all"] = Field(
        "default", description="which plots: the first-look set, or every N-1 distribution too"
    )
    checkpoint: bool = False
    resume: bool = False
    checkpoint_dir: Path | None = None
    skim: str | None = Field(
        None,
        description="also write the events passing the cuts up to this stage (a cut name, or "
        "'all') as skims in OUT/skims (na64reco.run.skim)",
    )
    skim_target_mb: float | None = Field(
        None, gt=0, description="merge the skims of a period into files of about this size"
    )

    @model_validator(mode="after")
    def _kinds_given(self) -> RunOptions:
        if not self.kinds:
            raise ValueError("kinds must name at least one file kind")
        if self.skim_target_mb is not None and self.skim is None:
            raise ValueError("skim_target_mb needs skim (the stage to skim at)")
        return self

    @classmethod
    def build(cls, options: RunOptions | None = None, **overrides) -> RunOptions:
        """``options`` (default: all defaults) with ``overrides``; executor settings may be given
        flat (``executor="dask", workers=4``) as well as in ``execution``."""
        base = options if options is not None else cls()
        if not overrides:
            return base
        flat = {k: overrides.pop(k) for k in list(overrides) if k in ExecutorOptions.model_fields}
        unknown = set(overrides) - set(cls.model_fields)
        if unknown:
            raise OptionsError(", ".join(sorted(unknown)), "unknown run option(s)")
        values = {name: getattr(base, name) for name in cls.model_fields}
        values.update(overrides)
        if flat:
            execution = values["execution"]
            values["execution"] = ExecutorOptions(**{**execution.model_dump(), **flat})
        return cls(**values)
