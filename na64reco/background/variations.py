"""The sideband background per systematic variation, and the nuisances of each period.

A run with declared variations writes ``variations.json`` (``na64reco.run.variations_output``):
per variation the sideband events' (E_ECAL, E_HCAL). Here each variation's sideband is fitted
exactly as the nominal one (``sideband.sideband_estimate``, nominal model, on the same fit
range; for a cut variation, the box and HCAL-zero edges of the varied cut set), the MC
components are added unchanged (they carry their own 50% systematic), and the factor on the
period's total expected background is total(variation) / total(nominal). With the efficiency
rows' factors (``na64reco.run.efficiency.variation_efficiencies``) they make the period's
``nuisances`` (``na64reco.systematics.nuisances``).
"""

from __future__ import annotations

import logging

import numpy as np

from na64reco.background.sideband import sideband_estimate
from na64reco.cutsets.config import CutSet
from na64reco.errors import NA64Error
from na64reco.limit_inputs import PeriodInputs
from na64reco.systematics.apply import shifted_cutset
from na64reco.systematics.config import CutShift, Systematics
from na64reco.systematics.nuisances import factor, period_nuisances

logger = logging.getLogger(__name__)

__all__ = ["add_nuisances", "declared_systematics", "period_variations"]


def declared_systematics(outputs) -> Systematics | None:
    """The variations the run outputs were made with: the same in every output, or none in
    any (NA64Error if they differ: their sidebands cannot be added)."""
    docs = [o.variations for o in outputs]
    if all(d is None for d in docs):
        return None
    if any(d is None for d in docs):
        raise NA64Error("some run outputs have systematic variations and some do not")
    decl = [{k: v for k, v in d["systematics"].items() if k != "source"} for d in docs]
    if any(x != decl[0] for x in decl[1:]):
        raise NA64Error("the run outputs were made with different systematic variations")
    return Systematics.model_validate(docs[0]["systematics"])


def _edges(cutset: CutSet, systematics: Systematics, label: str, period: str):
    var, direction = systematics.by_label(label)
    cs = shifted_cutset(cutset, var, direction) if isinstance(var, CutShift) else cutset
    return cs.box_upper_edge("ecal_e", period), cs.box_upper_edge("hcal_e", period)


def period_variations(
    period: str,
    outputs,
    systematics: Systematics,
    nominal: dict,
    box_low: float,
    fit_range: tuple[float, float],
) -> dict:
    """``{label: {n_sideband, sideband_expected, total_expected, factor}}`` of one period;
    ``nominal``: the period's nominal background block (``sideband``, ``total``)."""
    cutset = outputs[0].cutset
    mc_sum = nominal["total"]["expected"] - nominal["sideband"]["expected"]
    out = {}
    for label in systematics.labels(("calibration", "cut")):
        box_hi, hcal_zero = _edges(cutset, systematics, label, period)
        rows = [
            r
            for o in outputs
            for r in o.variations["sideband"].get(label, {}).get(period, [])
            if r[1] < hcal_zero
        ]
        ecal = np.array([r[0] for r in rows], dtype=float)
        sb = sideband_estimate(
            ecal, (box_low, box_hi), fit_range, source=f"variation {label}", variations=False
        )
        total = sb["expected"] + mc_sum
        out[label] = {
            "n_sideband": sb["n_sideband"],
            "sideband_expected": sb["expected"],
            "total_expected": total,
            "factor": factor(total, nominal["total"]["expected"]),
        }
    return out


def add_nuisances(doc: dict, systematics: Systematics | None) -> None:
    """Each period of the background document gains ``nuisances`` (the interface's dicts):
    background factors of its own variations, signal factors of the efficiency rows of the
    period (or, as in the limit inputs, of the nearest period with signal samples)."""
    if systematics is None:
        return
    declared = [v.model_dump(mode="json") for v in systematics.variations]
    by_period: dict[str, dict[str, list[dict]]] = {}
    for e in doc.get("efficiencies") or []:
        by_period.setdefault(e["period"], {}).setdefault(e["model"], []).append(e)
    for r in doc["periods"]:
        period = r["period"]
        signal = None
        if by_period:
            src = (
                period
                if period in by_period
                else min(by_period, key=lambda q: abs(int(q) - int(period)))
            )
            signal = {
                m: sorted(rows, key=lambda x: x["mass_gev"]) for m, rows in by_period[src].items()
            }
        bkg = {k: v["factor"] for k, v in (r.get("variations") or {}).items()}
        r["nuisances"] = period_nuisances(declared, bkg or None, signal)
        logger.info("period %s: %d nuisance parameter(s)", period, len(r["nuisances"]))


def without_absent_variations(doc: dict) -> dict:
    """The document without the variation fields of a run that declared none (its bytes are
    then those of before the variations existed)."""
    for r in doc["periods"]:
        for key in ("variations", "nuisances"):
            if r.get(key) is None:
                r.pop(key, None)
    for e in doc.get("efficiencies") or []:
        if e.get("variations") is None:
            e.pop("variations", None)
    return doc


def nuisance_field(period: dict) -> dict:
    """``nuisances=...`` for the limit inputs' period entry once its schema has the field
    (limit_inputs.json v2); before, the nuisances stay in background.json only."""
    if "nuisances" in PeriodInputs.model_fields and period.get("nuisances"):
        return {"nuisances": period["nuisances"]}
    return {}
