"""Declarative cut sets (``selections/*.toml``), validated on load.

A cut set is a named, ordered list of cuts; each cut is a conjunction of conditions on per-event
variables (``na64reco.cutsets.variables.VARIABLES``). A condition's bounds may differ per run
period: a bound is a number, a boolean, or a table keyed by period names or period groups
("2016-2018", "2021-2022", "2016", ...), the most specific key winning. One cut may be marked as
the signal box: ``signal_box = ["hcal_zero", "box"]`` lists the cuts whose conjunction defines the
blinded region (``na64reco.cutsets.evaluate.blind_mask``); ``CutSet.box_edges`` reads its edges.

Every problem (unknown key, misspelt cut field, unknown variable or period, a bound missing for
a period) raises ConfigError naming the file and the key, e.g. ``cuts.3.conditions.0.min``.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from na64reco.conditions import PERIODS
from na64reco.documents import read_document
from na64reco.errors import ConfigError
from na64reco.shipped import cutset_path

Bound = float | bool | dict[str, float | bool]


def period_group(key: str) -> tuple[str, ...]:
    """The periods a key names: "2016", "2016-2018" (inclusive; both ends must be periods, the
    first not after the second: a typo such as "2016-2108" is an error, not every period from
    2016 on), or "all"."""
    known = ", ".join(PERIODS)
    if key == "all":
        return tuple(PERIODS)
    if "-" in key:
        lo, _, hi = key.partition("-")
        for end in (lo, hi):
            if end not in PERIODS:
                raise ValueError(f"{key!r}: {end!r} is not a run period (known: {known})")
        if hi < lo:
            raise ValueError(f"{key!r}: the range is reversed ({hi} is before {lo})")
        return tuple(p for p in PERIODS if lo <= p <= hi)
    if key not in PERIODS:
        raise ValueError(f"{key!r} names no run period (known: {known})")
    return (key,)


def resolve(bound: Bound | None, period: str) -> float | bool | None:
    """The value of a (possibly per-period) bound for one period; most specific key wins."""
    if bound is None or not isinstance(bound, dict):
        return bound
    best: tuple[int, Any] | None = None
    for key, value in bound.items():
        group = period_group(key)
        if period in group and (best is None or len(group) < best[0]):
            best = (len(group), value)
    if best is None:
        raise KeyError(period)
    return best[1]


class Condition(BaseModel):
    """variable in [min, max) and/or variable == equals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variable: str
    min: Bound | None = None
    max: Bound | None = None
    equals: Bound | None = None

    @field_validator("min", "max", "equals")
    @classmethod
    def _keys_are_periods(cls, value: Bound | None) -> Bound | None:
        values = value.values() if isinstance(value, dict) else [value]
        if isinstance(value, dict):
            if not value:
                raise ValueError("a per-period table must not be empty")
            for key in value:
                period_group(key)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"bounds must be finite numbers, found {v}")
        return value

    @model_validator(mode="after")
    def _has_a_bound(self) -> Condition:
        if self.min is None and self.max is None and self.equals is None:
            raise ValueError(f"condition on {self.variable!r} has no min, max or equals")
        if self.equals is not None and (self.min is not None or self.max is not None):
            raise ValueError(f"condition on {self.variable!r}: equals excludes min and max")
        return self

    def bounds(self, period: str) -> tuple[Any, Any, Any]:
        try:
            return (
                resolve(self.min, period),
                resolve(self.max, period),
                resolve(self.equals, period),
            )
        except KeyError:
            raise ValueError(f"no value for period {period}") from None


class Cut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    doc: str = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=1)


class CutSet(BaseModel):
    """A validated cut set (one analysis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    description: str = Field(min_length=1)
    periods: list[str] = Field(min_length=1)
    signal_box: list[str] = Field(default_factory=list)  # cuts whose conjunction is blinded
    cuts: list[Cut] = Field(min_length=1)
    source: str = ""

    @field_validator("periods")
    @classmethod
    def _known_periods(cls, value: list[str]) -> list[str]:
        for p in value:
            if p not in PERIODS:
                raise ValueError(f"unknown run period {p!r} (known: {', '.join(PERIODS)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CutSet:
        names = [c.name for c in self.cuts]
        if len(set(names)) != len(names):
            raise ValueError(f"cut names must be unique: {names}")
        for box_cut in self.signal_box:
            if box_cut not in names:
                raise ValueError(f"signal_box cut {box_cut!r} is not one of the cuts {names}")
        return self

    @cached_property
    def cut_names(self) -> list[str]:
        return [c.name for c in self.cuts]

    def box_edges(self, period: str) -> dict[str, tuple[float | None, float | None]]:
        """The signal box of ``period``: ``{variable: (min, max)}`` of the numeric conditions of
        the ``signal_box`` cuts (e.g. ``{"hcal_e": (None, 1.0), "ecal_e": (None, 50.0)}``)."""
        edges: dict[str, tuple[float | None, float | None]] = {}
        for cut in self.cuts:
            if cut.name not in self.signal_box:
                continue
            for cond in cut.conditions:
                lo, hi, _ = cond.bounds(period)
                numeric = [None if v is None or isinstance(v, bool) else float(v) for v in (lo, hi)]
                if numeric != [None, None]:
                    edges[cond.variable] = (numeric[0], numeric[1])
        return edges

    def box_upper_edge(self, variable: str, period: str) -> float:
        """The upper edge of the signal box in ``variable`` for ``period`` (e.g. E_ECAL < 50);
        ValueError naming the cut set if its box has none."""
        lo_hi = self.box_edges(period).get(variable)
        if lo_hi is None or lo_hi[1] is None:
            raise ValueError(
                f"cut set {self.name!r} has no upper bound on {variable} in its signal box"
            )
        return lo_hi[1]

    def as_dict(self) -> dict:
        """The cut set as plain data, serialised into every output."""
        return self.model_dump(mode="json", exclude={"source"})


def _check_equals(cond: Condition, equals: Any, kind: str) -> str | None:
    """What is wrong with ``equals`` on a variable of ``kind`` (None: nothing)."""
    if kind == "float":
        return (
            f"equals on the continuous variable {cond.variable!r}: exact equality of a "
            "measured value selects nothing; use min and max"
        )
    if kind == "bool" and not isinstance(equals, bool):
        return f"{cond.variable!r} is a boolean: equals must be true or false, found {equals!r}"
    if kind == "int" and (isinstance(equals, bool) or float(equals) != int(equals)):
        return f"{cond.variable!r} is a count: equals must be a whole number, found {equals!r}"
    return None


def _check_condition(cut: Cut, cond: Condition, period: str) -> tuple[str, str] | None:
    """(key suffix, problem) for a condition that cannot be evaluated in ``period``."""
    from na64reco.cutsets.variables import variable_kind

    try:
        lo, hi, eq = cond.bounds(period)
    except ValueError as exc:
        return "", f"cut {cut.name!r}: {exc}"
    if eq is not None:
        problem = _check_equals(cond, eq, variable_kind(cond.variable))
        if problem:
            return ".equals", f"cut {cut.name!r}: {problem}"
    if lo is not None and hi is not None and not lo < hi:
        return ".min", (
            f"cut {cut.name!r}: min {lo:g} is not below max {hi:g} in {period} "
            f"({cond.variable} in [{lo:g}, {hi:g}) selects nothing)"
        )
    return None


def _check_variables_and_periods(path: str, cutset: CutSet, variables: set[str]) -> None:
    for i, cut in enumerate(cutset.cuts):
        for j, cond in enumerate(cut.conditions):
            key = f"cuts.{i}.conditions.{j}"
            if cond.variable not in variables:
                raise ConfigError(
                    path,
                    f"{key}.variable",
                    f"unknown variable {cond.variable!r} in cut "
                    f"{cut.name!r} (known: {', '.join(sorted(variables))})",
                )
            for period in cutset.periods:
                problem = _check_condition(cut, cond, period)
                if problem:
                    raise ConfigError(path, key + problem[0], problem[1])


def check_periods_covered(cutset: CutSet, periods: dict[str, str]) -> None:
    """Every period of the data (``{period: a file of it}``) is one of the cut set's
    ``periods``; ConfigError naming the cut set's file otherwise (its bounds may not even
    exist for that period)."""
    for period, path in sorted(periods.items()):
        if period not in cutset.periods:
            raise ConfigError(
                cutset.source or f"cut set {cutset.name!r}",
                "periods",
                f"{cutset.periods} does not cover period {period} of {path}: the cuts of that "
                "period are not defined",
            )


def load_cutset(name_or_path: str | Path) -> CutSet:
    """Load a cut set by name (``invisible``: the shipped ``selections/invisible.toml``) or path."""
    from na64reco.cutsets.variables import VARIABLES

    path = Path(name_or_path)
    if not path.suffix:
        path = cutset_path(str(name_or_path))
    cutset = read_document(
        path, CutSet, kind="toml", prepare=lambda raw: {**raw, "source": str(path)}
    )
    _check_variables_and_periods(str(path), cutset, set(VARIABLES))
    return cutset
