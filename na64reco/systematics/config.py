"""The systematic sources of an analysis as data: one validated TOML file.

Layout (``selections/systematics/<analysis>.toml``)::

    name = "invisible"          # the cut set the variations apply to
    version = 1
    description = "..."

    [[variations]]
    name = "ecal_scale"         # the nuisance parameter's name (same name in every period)
    kind = "calibration"        # calibration | cut | weight
    detector = "ecal"           # ecal | hcal | srd | veto
    shift = 0.02                # relative gain shift, up = +shift, down = -shift, or
    # from_file = true          # the per-channel factors of the calibration file's syst axis
    # quantity = "resolution"   # instead: extra relative smearing ``shift`` (up; down nominal)

    [[variations]]
    name = "box_edge"
    kind = "cut"
    cut = "box"                 # a cut of the cut set, its condition ``condition`` (0)
    bound = "max"               # min | max
    up = 1.0                    # added to the bound (the variable's unit) for up / down
    down = -1.0

    [[variations]]
    name = "intensity"
    kind = "weight"             # simulation only: reweights signal samples, data untouched
    weight = "pileup"           # pileup | beam_energy (na64reco.systematics.weights)
    up = 1.2                    # factor on the weight's parameter for up / down
    down = 0.8

Every variation yields two evaluated variations, ``<name>__up`` and ``<name>__down``. Every
problem is a ``ConfigError(path, key, problem)`` naming the file and the key (e.g.
``variations.1.cut``), as for the cut sets; a cut, condition or bound the cut set does not
have is refused when the file is checked against the cut set (``check_against``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from na64reco.cutsets.config import CutSet
from na64reco.documents import read_document
from na64reco.errors import ConfigError

DETECTORS = ("ecal", "hcal", "srd", "veto")
DIRECTIONS = ("up", "down")
NAME = r"^[a-z][a-z0-9_]*$"

__all__ = [
    "DETECTORS",
    "DIRECTIONS",
    "CalibrationShift",
    "CutShift",
    "Systematics",
    "WeightVariation",
    "load_systematics",
    "systematics_path",
]


class _Variation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME, description="nuisance parameter name")
    description: str = Field("", description="what is varied and why by that much")

    def labels(self) -> tuple[str, str]:
        return (f"{self.name}__up", f"{self.name}__down")


class CalibrationShift(_Variation):
    """``quantity = "scale"``: a detector's gains scaled coherently, by ``1 +- shift`` or by
    the per-channel factors of the calibration file's ``syst`` axis (``<det>_gain_syst``,
    ``from_file``). ``quantity = "resolution"``: every channel's signal smeared by an extra
    relative Gaussian ``shift`` (up); one-sided, down is the nominal (smearing can only worsen
    a resolution)."""

    kind: Literal["calibration"]
    detector: Literal["ecal", "hcal", "srd", "veto"]
    quantity: Literal["scale", "resolution"] = "scale"
    shift: float | None = Field(None, gt=0.0, lt=0.5, description="relative shift or smearing")
    from_file: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> CalibrationShift:
        if (self.shift is None) == (not self.from_file):
            raise ValueError("give exactly one of shift (a relative gain shift) or from_file")
        if self.quantity == "resolution" and self.from_file:
            raise ValueError("a resolution variation needs shift (the extra relative smearing)")
        return self


class CutShift(_Variation):
    """One bound of one condition of a cut moved by ``up`` / ``down`` (absolute, the unit of
    the condition's variable), in every period."""

    kind: Literal["cut"]
    cut: str
    condition: int = Field(0, ge=0)
    bound: Literal["min", "max"]
    up: float = Field(allow_inf_nan=False)
    down: float = Field(allow_inf_nan=False)


class WeightVariation(_Variation):
    """A simulation weight's parameter scaled by ``up`` / ``down`` (signal samples only)."""

    kind: Literal["weight"]
    weight: Literal["pileup", "beam_energy"]
    up: float = Field(gt=0.0, allow_inf_nan=False)
    down: float = Field(gt=0.0, allow_inf_nan=False)


Variation = Annotated[CalibrationShift | CutShift | WeightVariation, Field(discriminator="kind")]


class Systematics(BaseModel):
    """The systematic sources declared for one cut set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the cut set the variations apply to")
    version: int = Field(ge=1)
    description: str = Field(min_length=1)
    variations: tuple[Variation, ...] = ()
    source: str = ""

    @model_validator(mode="after")
    def _unique(self) -> Systematics:
        seen = set()
        for v in self.variations:
            if v.name in seen:
                raise ValueError(f"variation name {v.name!r} declared twice")
            seen.add(v.name)
        return self

    def labels(self, kinds: tuple[str, ...] = ("calibration", "cut", "weight")) -> list[str]:
        """``<name>__up``, ``<name>__down`` of every variation of ``kinds``, in file order."""
        return [lab for v in self.variations if v.kind in kinds for lab in v.labels()]

    def by_label(self, label: str) -> tuple[CalibrationShift | CutShift | WeightVariation, str]:
        name, _, direction = label.rpartition("__")
        for v in self.variations:
            if v.name == name and direction in DIRECTIONS:
                return v, direction
        raise KeyError(label)

    def check_against(self, cutset: CutSet) -> None:
        """Every cut shift names a cut, condition and bound of ``cutset``; the file is for
        that cut set (ConfigError naming the file and the key otherwise)."""
        where = self.source or f"systematics {self.name!r}"
        if self.name != cutset.name:
            raise ConfigError(where, "name", f"{self.name!r} is not the cut set {cutset.name!r}")
        cuts = {c.name: c for c in cutset.cuts}
        for i, v in enumerate(self.variations):
            if not isinstance(v, CutShift):
                continue
            key = f"variations.{i}"
            if v.cut not in cuts:
                raise ConfigError(where, f"{key}.cut", f"no cut {v.cut!r} in {sorted(cuts)}")
            conds = cuts[v.cut].conditions
            if v.condition >= len(conds):
                raise ConfigError(
                    where, f"{key}.condition", f"cut {v.cut!r} has {len(conds)} condition(s)"
                )
            if getattr(conds[v.condition], v.bound) is None:
                raise ConfigError(
                    where,
                    f"{key}.bound",
                    f"condition {v.condition} of cut {v.cut!r} has no {v.bound} bound",
                )


def systematics_path(name: str) -> Path:
    """The shipped ``selections/systematics/<name>.toml``."""
    from importlib import resources

    return Path(str(resources.files("na64reco.selections") / "systematics" / f"{name}.toml"))


def load_systematics(name_or_path: str | Path, cutset: CutSet | None = None) -> Systematics:
    """Load and validate a systematics file (by analysis name or path); checked against
    ``cutset`` when given."""
    path = Path(name_or_path)
    if not path.suffix:
        path = systematics_path(str(name_or_path))
    syst = read_document(
        path, Systematics, kind="toml", prepare=lambda raw: {**raw, "source": str(path)}
    )
    if cutset is not None:
        syst.check_against(cutset)
    return syst
