"""``background.json``: the background in the signal box and the exposure per period (v1).

Written by ``na64reco.background.build_background`` (``na64 background``, the background stage
of ``na64 analyze``) from blinded run outputs; undefined numbers (a ratio with an empty
denominator) are null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from na64reco.blinding.record import ChainRecord
from na64reco.schemas.common import Document, Provenance, Strict

BACKGROUND_FORMAT = "na64-background"
BACKGROUND_VERSION = 1

__all__ = [
    "BACKGROUND_FORMAT",
    "BACKGROUND_VERSION",
    "BackgroundDocument",
    "EfficiencyRow",
    "PeriodBackground",
]


class Open(Strict):
    """A block whose core fields are typed; method-specific details may follow."""

    model_config = ConfigDict(extra="allow")


class Exposure(Strict):
    period: str
    n_beam_trigger: int
    prescale: int
    eot_live: float
    eot_live_stat: float
    eot_live_syst: float
    live_fraction: float
    eot_delivered: float
    eot_delivered_stat: float
    method: str


class Sideband(Open):
    """``sideband.sideband_estimate``: an extended ML fit, or an upper bound when too few events."""

    kind: Literal["fit", "upper_bound"]
    expected: float
    stat: float
    syst: float
    n_sideband: int
    fit_range_gev: list[float]
    box_gev: list[float]
    trigger_max_gev: float
    fit_range_rule: str
    n_above_fit_range: int
    plot: str | None = None


class ABCD(Open):
    stage: str
    A: int
    C: int
    D: int
    expected: float | None
    stat: float | None
    syst: float | None
    closure_source: dict[str, Any] | str


class Component(Strict):
    value: float
    stat: float
    syst: float


class MCComponents(Strict):
    values: dict[str, Component]
    note: str
    truth_upstream_interaction: float


class Total(Strict):
    expected: float
    stat: float
    syst: float
    method: str


class BackgroundVariation(Strict):
    """The background of one systematic variation (``na64reco.background.variations``)."""

    n_sideband: int
    sideband_expected: float
    total_expected: float
    factor: float = Field(description="total expected of the variation / nominal")


class PeriodBackground(Strict):
    period: str
    box_gev: list[float] = Field(description="E_ECAL range of the box")
    hcal_zero_gev: float = Field(description="E_HCAL edge of the box (HCAL zero energy)")
    eot: Exposure
    sideband: Sideband
    abcd: ABCD
    mc_components: MCComponents
    total: Total
    variations: dict[str, BackgroundVariation] | None = Field(
        None, description="per variation <name>__up/__down (only when declared)"
    )
    nuisances: list[dict[str, Any]] | None = Field(
        None,
        description="named nuisance parameters in the limit inputs' shape "
        "(na64reco.systematics.nuisances.Nuisance; only when variations were declared)",
    )


class EtaDown(Strict):
    """eta_down(E_F) of one sample: per emitted-energy bin, selected over upstream events."""

    e_f_gev: list[float]
    eta: list[float]
    n_upstream: list[int] | None = None
    n_selected: list[int] | None = None


class EfficiencyVariation(Strict):
    """The efficiency of one variation (``na64reco.run.efficiency.variation_efficiencies``)."""

    efficiency: float | None
    efficiency_stat: float | None
    factor: float | None = Field(description="eps of the variation / nominal eps")
    cutflow: dict[str, list[float]] = Field(description="[sum w, sum w^2] after each cut")


class EfficiencyRow(Strict):
    """One signal sample (``na64reco.run.efficiency``); efficiencies relative to the bosons
    emitted with E_F > E0 - E_box."""

    model: str
    mass_gev: float
    period: str
    events_generated: int
    generated_in_region: int
    selected: int
    upstream: float | None
    upstream_stat: float | None
    downstream: float | None
    downstream_stat: float | None
    efficiency: float | None
    efficiency_stat: float | None
    efficiency_syst: float | None
    cutflow: dict[str, int]
    eta_down: EtaDown
    variations: dict[str, EfficiencyVariation] | None = Field(
        None, description="per variation <name>__up/__down (only when declared)"
    )


class DimuonRatio(Strict):
    observed: int
    predicted: float
    predicted_stat: float
    ratio: float | None
    ratio_stat: float | None


class RunOutputRecord(Strict):
    dir: str
    summary_sha256: str
    cutset: dict[str, Any]
    calibration: list[dict[str, Any]]
    na64reco: str | None


class BackgroundProvenance(Provenance):
    model_config = ConfigDict(extra="forbid")

    run_outputs: list[RunOutputRecord]
    closure_eot: float | None


class BackgroundDocument(Document):
    format: Literal["na64-background"] = BACKGROUND_FORMAT
    version: Literal[1] = BACKGROUND_VERSION
    blinded: bool
    blinding: ChainRecord
    periods: list[PeriodBackground]
    efficiencies: list[EfficiencyRow] | None
    dimuon: dict[str, DimuonRatio] | None
    provenance: BackgroundProvenance
