"""``limit_inputs.json``: everything the limit module needs, per run period (schema v2).

Produced by ``na64 background`` / the background-and-efficiency stage from blinded run outputs,
consumed by ``na64 limit``. Validated on load (pydantic, unknown keys forbidden); every problem
raises ConfigError naming the file and the key (``periods.1.background.syst``).

Per period: the exposure (EOT, live, with its uncertainty), the signal efficiency per model and
mass (with statistical and systematic uncertainties, and optionally eta_down(E_F)), the expected
background in the signal box (statistical and systematic parts kept apart, per method and
component), the observed count in the box (``null`` while blinded), the box definition, the
dimuon cross-check; the blinding record (``blinding``: required of inputs made from run outputs,
checked by ``na64 limit``) and the provenance of all of it.

Version 2 adds per period an optional list ``nuisances`` (default empty): named systematic
parameters (``Nuisance``), each with multiplicative up/down factors
``yield(variation) / yield(nominal)`` (> 0, finite) on the expected background, on the signal
efficiency of each model (one factor per mass of that model's ``masses_gev``) and on the EOT.
The same name in several periods is one parameter, correlated between them. The flat
uncertainties of v1 (``background.syst``, efficiency ``syst``, ``eot`` stat/syst) stay and keep
their meaning; a nuisance is an additional parameter. Version 1 files still load (no
nuisances: the limits of today, exactly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from na64reco.blinding.record import ChainRecord
from na64reco.documents import read_document, write_json
from na64reco.errors import ConfigError

FORMAT = "na64-limit-inputs"
VERSION = 2
VERSIONS = (1, 2)  # the versions that load
NUISANCE_SOURCES = ("calibration", "cut", "weight", "efficiency", "eot", "background")
#: [choose] more electrons on target than any experiment delivers: NA64 had 9.4e11 in all
#: (conditions.periods); 1e15 leaves a factor 1000 and keeps every yield a finite number
MAX_EOT = 1e15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # every number finite


class Measurement(_Strict):
    value: float
    stat: float = Field(ge=0)
    syst: float = Field(ge=0, default=0.0)


class EfficiencyTable(_Strict):
    """Signal efficiency of one model versus mass (same length lists, masses increasing)."""

    model: str
    masses_gev: list[float] = Field(min_length=1)
    efficiency: list[float]
    stat: list[float]
    syst: list[float]
    eta_down: dict[str, list[float]] | None = None  # {"e_f_gev": [...], "eta": [...]}

    @model_validator(mode="after")
    def _consistent(self) -> EfficiencyTable:
        n = len(self.masses_gev)
        for name in ("efficiency", "stat", "syst"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {n} masses")
        if self.masses_gev[0] <= 0:
            raise ValueError(f"masses_gev must be > 0, found {self.masses_gev[0]!r}")
        if any(b <= a for a, b in zip(self.masses_gev, self.masses_gev[1:], strict=False)):
            raise ValueError("masses_gev must increase")
        if any(u < 0 for u in (*self.stat, *self.syst)):
            raise ValueError("efficiency uncertainties (stat, syst) must be >= 0")
        if any(not 0 <= e <= 1 for e in self.efficiency):
            raise ValueError("efficiencies must lie in [0, 1]")
        return self


class Background(_Strict):
    """Expected background events in the signal box."""

    expected: float = Field(ge=0)
    stat: float = Field(ge=0)
    syst: float = Field(ge=0)
    method: str  # e.g. "sideband-fit", "abcd", "published"
    components: dict[str, Measurement] = Field(default_factory=dict)


class Box(_Strict):
    ecal_max_gev: float = Field(gt=0)
    hcal_max_gev: float = Field(gt=0)


class UpDown(_Strict):
    """Multiplicative factors yield(variation) / yield(nominal) of one nuisance."""

    up: float = Field(gt=0)
    down: float = Field(gt=0)


class SignalUpDown(_Strict):
    """Efficiency factors of one model, one per mass of that model's ``masses_gev``."""

    up: list[float] = Field(min_length=1)
    down: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> SignalUpDown:
        if len(self.up) != len(self.down):
            raise ValueError(f"up has {len(self.up)} factors, down {len(self.down)}")
        if any(f <= 0 for f in (*self.up, *self.down)):
            raise ValueError("factors must be > 0 (yield(variation) / yield(nominal))")
        return self


class Nuisance(_Strict):
    """One named systematic parameter of a period (limit_inputs v2, see the module docstring)."""

    name: str = Field(min_length=1)
    source: Literal["calibration", "cut", "weight", "efficiency", "eot", "background"]
    description: str = ""
    background: UpDown | None = None  # factor on the expected background
    signal: dict[str, SignalUpDown] | None = None  # model -> factors on its efficiency per mass
    eot: UpDown | None = None  # factor on the EOT (the signal of every model)


class PeriodInputs(_Strict):
    period: str
    eot: Measurement  # live electrons on target
    box: Box
    background: Background
    efficiencies: list[EfficiencyTable] = Field(min_length=1)
    observed: int | None = Field(default=None, ge=0)  # null while blinded
    dimuon_ratio: Measurement | None = None  # observed / predicted dimuons
    # optional (schema v1 files without it stay valid): the beam energy of the period; when
    # absent the limit module takes it from the run conditions of the period name
    beam_energy_gev: float | None = Field(default=None, gt=0)
    nuisances: list[Nuisance] = Field(default_factory=list)  # schema v2

    @field_validator("nuisances")
    @classmethod
    def _nuisances_aligned(cls, nuisances: list[Nuisance], info: ValidationInfo) -> list[Nuisance]:
        names = [n.name for n in nuisances]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"a name is listed twice in one period: {twice}")
        tables = {t.model: t for t in info.data.get("efficiencies", [])}
        for i, nuis in enumerate(nuisances):
            for model, factors in (nuis.signal or {}).items():
                if model not in tables:
                    raise ValueError(
                        f"{i}.signal.{model}: the period has no efficiency table for model "
                        f"{model!r} (has: {sorted(tables)})"
                    )
                n = len(tables[model].masses_gev)
                if len(factors.up) != n:
                    raise ValueError(
                        f"{i}.signal.{model}: {len(factors.up)} factors for the {n} masses of "
                        f"the {model!r} efficiency table (masses_gev)"
                    )
        return nuisances

    @field_validator("eot")
    @classmethod
    def _exposure_positive(cls, eot: Measurement) -> Measurement:
        if eot.value <= 0:
            raise ValueError(f"value must be > 0 (electrons on target), found {eot.value:g}")
        if eot.value > MAX_EOT or eot.stat > MAX_EOT or eot.syst > MAX_EOT:
            raise ValueError(
                f"value {eot.value:g} (stat {eot.stat:g}, syst {eot.syst:g}) is beyond "
                f"{MAX_EOT:g} electrons on target: not an exposure of this experiment"
            )
        return eot


class LimitInputs(_Strict):
    format: Literal["na64-limit-inputs"] = FORMAT
    version: Literal[1, 2] = VERSION
    name: str
    blinded: StrictBool  # "no" or 0 must not silently mean unblinded
    blinding: ChainRecord | None = Field(
        None,
        description="the blinding record of inputs made from run outputs (na64 background); "
        "None for external inputs (published numbers)",
    )
    periods: list[PeriodInputs] = Field(min_length=1)
    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _blinding_consistent(self) -> LimitInputs:
        names = [p.period for p in self.periods]
        if len(set(names)) != len(names):
            raise ValueError(f"a period is listed twice: {names}")
        taken = {"mu", "sig_common", *(f"{k}_{p}" for p in names for k in ("sig", "bkg"))}
        for i, p in enumerate(self.periods):
            clash = sorted({n.name for n in p.nuisances} & taken)
            if clash:
                raise ValueError(
                    f"periods.{i}.nuisances: names {clash} are taken by the flat uncertainties "
                    "(mu, sig_common, sig_<period>, bkg_<period> in the pyhf model)"
                )
        if self.blinded and any(p.observed is not None for p in self.periods):
            raise ValueError("blinded inputs must not carry observed counts")
        if not self.blinded and any(p.observed is None for p in self.periods):
            raise ValueError("unblinded inputs need the observed count of every period")
        return self

    def models(self) -> set[str]:
        return {t.model for p in self.periods for t in p.efficiencies}


def load_limit_inputs(path: str | Path) -> LimitInputs:
    """Read and validate a limit_inputs.json (ConfigError naming the file and key)."""
    inputs = read_document(path, LimitInputs, format_name=FORMAT, versions=VERSIONS)
    if inputs.version == 1 and any(p.nuisances for p in inputs.periods):
        raise ConfigError(path, "version", "nuisances need version 2 (found version 1)")
    return inputs


def write_limit_inputs(path: str | Path, inputs: LimitInputs) -> Path:
    """Write ``inputs`` as the current version (v1 inputs are written as v2: a superset)."""
    return write_json(path, inputs.model_copy(update={"version": VERSION}))


__all__ = [
    "Background",
    "Box",
    "EfficiencyTable",
    "LimitInputs",
    "Measurement",
    "Nuisance",
    "PeriodInputs",
    "SignalUpDown",
    "UpDown",
    "load_limit_inputs",
    "write_limit_inputs",
]
