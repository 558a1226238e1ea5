"""The protected blinding definition: every blinded region of the shipped analyses, versioned.

The regions are defined here, in code, not in a cut set: a cut set a user edits or passes on
the command line cannot shrink, move or rename them. Every run of any cut set with any
calibration hides every region (``region_mask``) unless it is unblinded explicitly, and the
regions are evaluated on quantities no user input can rescale: the calorimeter energies
reconstructed with the calibration the definition names (``BLINDING.calibration``: the shipped
constants, their sha256 pinned here and checked on every load, ``load_blinding_calibration``;
for the periods that file does not cover, the true constants of the simulated detector, which
are code), never with the calibration of the run. A x1000 calibration with x1000 cut
thresholds therefore moves nothing out of a region.

A cut set named like a protected analysis (``invisible``, ``phi``) must define exactly that
region as its ``signal_box`` (``check_protected_cutset``): a copy without the box, with a decoy
box or with other box bounds under the protected name is refused before anything runs (rename
it to study another region: its own box is then hidden as well, with the run's calibration).

Changing a region, or the calibration it is evaluated with, is a new ``version`` of the
definition; every output records ``{"version", "sha256"}`` (``definition_record``) and the
background and limit stages refuse outputs made with another one.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from na64reco.calibration.constants import CalibrationDB, CalibrationSet
from na64reco.calibration.io import load_calibration
from na64reco.calibration.truth import calibration_from_truth
from na64reco.checksums import sha256_file, sha256_json
from na64reco.conditions.periods import PERIODS
from na64reco.cutsets.config import Condition, CutSet
from na64reco.cutsets.evaluate import condition_mask
from na64reco.errors import CalibrationError, ConfigError
from na64reco.shipped import calibration_path

__all__ = [
    "BLINDING",
    "REGION_VARIABLES",
    "BlindingDefinition",
    "CalibrationReference",
    "Region",
    "blinding_set",
    "check_protected_cutset",
    "definition_record",
    "load_blinding_calibration",
    "region_masks",
]

#: the constants of the periods the blinding file does not cover (code, not user input: the
#: detector the simulation describes, ``na64reco.calibration.truth.calibration_from_truth``)
OTHER_PERIODS = "true constants of the simulated detector (conditions.truth_calibration)"
#: the variables the regions are defined on (calorimeter energies only: cheap to reconstruct a
#: second time with the blinding calibration, ``na64reco.processors.selection``)
REGION_VARIABLES = ("ecal_e", "hcal_e", "hcal_inline_min", "hcal_inline_max")


class Region(BaseModel):
    """One blinded region: the conjunction of its conditions (``min <= x < max``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the analysis whose signal region this is")
    description: str
    conditions: tuple[Condition, ...]

    def edges(self, period: str) -> set[tuple[str, float | None, float | None, object]]:
        """The conditions of ``period`` as a comparable set of (variable, min, max, equals)."""
        return {(c.variable, *c.bounds(period)) for c in self.conditions}


class CalibrationReference(BaseModel):
    """The constants the regions are evaluated with: a shipped file and its sha256, and for the
    periods the file does not cover, the true constants of the simulated detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="file name in the shipped calib/ folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    other_periods: str = Field(
        OTHER_PERIODS, description="the constants of the periods the file does not cover"
    )


class BlindingDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    calibration: CalibrationReference
    regions: tuple[Region, ...]

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    def as_dict(self) -> dict:
        return self.model_dump(mode="json")


def _condition(variable: str, **bounds) -> Condition:
    return Condition(variable=variable, **bounds)


# v1: the constants of the first simulation; v2: those derived from the regenerated sample
# (analogue trigger, saturation, per-setup beam lines), the same regions
BLINDING = BlindingDefinition(
    version=2,
    calibration=CalibrationReference(
        file="na64sim-2016-2022.json",
        sha256="a9dfc7011a7022bad88c4aeeb16ff123e16ee1dc6969046a9f1fb1b3ad08b27b",
    ),
    regions=(
        Region(
            name="invisible",
            description="HCAL zero energy and E_ECAL in the box: E_HCAL < 1 GeV, E_ECAL < 50 GeV "
            "(47 GeV in 2021) (papers 000, 001; selections/invisible.toml)",
            conditions=(
                _condition("hcal_e", max=1.0),
                _condition("ecal_e", max={"all": 50.0, "2021": 47.0}),
            ),
        ),
        Region(
            name="phi",
            description="one MIP through every in-line HCAL module (1-3.5 GeV each) and "
            "E_ECAL < 50 GeV (paper 004; selections/phi.toml)",
            conditions=(
                _condition("hcal_inline_min", min=1.0),
                _condition("hcal_inline_max", max=3.5),
                _condition("ecal_e", max=50.0),
            ),
        ),
    ),
)


@functools.cache
def _sha256() -> str:
    return sha256_json(BLINDING.as_dict())


def definition_record() -> dict:
    """What every output records of the definition: its version and sha256."""
    return {"version": BLINDING.version, "sha256": _sha256()}


def load_blinding_calibration() -> tuple[CalibrationDB, dict]:
    """The constants the regions are evaluated with, after checking the file's sha256 (the
    file's sets, then the true constants of every period it does not cover); and their record
    ``{"file", "sha256", "other_periods"}``. ConfigError if the file is not the one the
    definition names."""
    path = calibration_path(BLINDING.calibration.file)
    try:
        found = sha256_file(path)
    except OSError as exc:
        raise ConfigError(path, "(file)", f"blinding calibration cannot be read: {exc}") from exc
    if found != BLINDING.calibration.sha256:
        raise ConfigError(
            path,
            "sha256",
            f"the blinding definition v{BLINDING.version} evaluates its regions with this file "
            f"at sha256 {BLINDING.calibration.sha256}, the file has {found}: other constants "
            "for the blinding need a new version of na64reco.blinding.definition.BLINDING",
        )
    record = {"file": str(path), "sha256": found, "other_periods": OTHER_PERIODS}
    return _load_checked(str(path)), record


@functools.cache
def _load_checked(path: str) -> CalibrationDB:
    db = load_calibration(path)
    covered = {c.period for c in db.sets}
    truth = [calibration_from_truth(p) for p in PERIODS if p not in covered]
    sets = sorted([*db.sets, *truth], key=lambda c: c.run_min)
    return CalibrationDB(sets=tuple(sets), source=db.source)


def blinding_set(calibration: CalibrationDB, run: int) -> CalibrationSet:
    """The blinding constants of ``run``; CalibrationError naming the run if there are none."""
    try:
        return calibration.for_run(run)
    except CalibrationError as exc:
        raise CalibrationError(
            f"the blinded regions cannot be evaluated: {exc}; data outside these runs need a "
            f"new version of the blinding definition (v{BLINDING.version})"
        ) from None


def region_masks(
    variables: dict[str, np.ndarray], period: str, names: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Per region (of ``names``, default all): the events inside it."""
    out = {}
    for region in BLINDING.regions:
        if names is not None and region.name not in names:
            continue
        mask = condition_mask(region.conditions[0], variables, period)
        for cond in region.conditions[1:]:
            mask &= condition_mask(cond, variables, period)
        out[region.name] = mask
    return out


def _box_edges(cutset: CutSet, period: str) -> set:
    return {
        (c.variable, *c.bounds(period))
        for cut in cutset.cuts
        if cut.name in cutset.signal_box
        for c in cut.conditions
    }


def check_protected_cutset(cutset: CutSet) -> None:
    """A cut set named like a protected analysis defines exactly its region as ``signal_box``
    (in every period of the cut set); ConfigError naming the cut set's file otherwise."""
    region = BLINDING.region(cutset.name)
    if region is None:
        return
    source = cutset.source or f"cut set {cutset.name!r}"
    if not cutset.signal_box:
        raise ConfigError(
            source,
            "signal_box",
            f"cut set {cutset.name!r} has no signal box, but {cutset.name!r} is a protected "
            f"analysis: its blinded region ({region.description}) must be its signal_box; "
            "rename the cut set to run another selection",
        )
    for period in cutset.periods:
        found, wanted = _box_edges(cutset, period), region.edges(period)
        if found != wanted:
            raise ConfigError(
                source,
                "signal_box",
                f"cut set {cutset.name!r} defines its signal box {cutset.signal_box} as "
                f"{_describe(found)} in {period}, but the protected region {cutset.name!r} of "
                f"the blinding definition v{BLINDING.version} is {_describe(wanted)}; rename "
                "the cut set to study another region",
            )


def _describe(edges: set) -> str:
    parts = []
    for variable, lo, hi, eq in sorted(edges, key=str):
        if eq is not None:
            parts.append(f"{variable} == {eq}")
        else:
            lo_txt = f"{lo:g} <= " if lo is not None else ""
            hi_txt = f" < {hi:g}" if hi is not None else ""
            parts.append(f"{lo_txt}{variable}{hi_txt}")
    return " and ".join(parts) or "nothing"
