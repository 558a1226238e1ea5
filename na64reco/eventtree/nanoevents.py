"""coffea NanoEvents schema for schema-v1 event trees.

``NanoEventsFactory.from_root({path: "events"}, schemaclass=NA64Schema)`` and
``processor.Runner(..., schema=NA64Schema)`` give events with:

- ``run``, ``spill``, ``event``, ``trigger`` (top level, one value per event);
- ``ECAL`` (``amp``, ``t``: [2][6][6] per event), ``HCAL`` ([4][3][3]), ``SRD`` ([3]),
  ``VETO`` ([6]), ``Counters`` ([4]: S0, S1, S2, V1) as records of fixed-size arrays;
- ``MM`` (``station``, ``plane``, ``strip``, ``amp``, ``t``) and ``Straw`` (``station``,
  ``plane``, ``wire``, ``t``) as jagged hit collections (``MMHit``/``StrawHit`` records);
- ``MC`` (truth fields without the ``mc_`` prefix), only when the file has them;
- any further branch unchanged at top level; the hit counters ``nmm``/``nst`` are dropped
  (use ``ak.num(events.MM)``).

Behaviours (``NA64Schema.behavior()``): ``NA64Events.is_physics_trigger``, ``is_beam_trigger``,
``is_random_trigger``, ``is_calibration_trigger``; hit mixins ``is_x``/``is_y`` (plane 0/1).
Arrays stay lazy (virtual) as coffea delivers them; nothing here reads data.
"""

from __future__ import annotations

import logging

import awkward as ak
from coffea.nanoevents.methods import base
from coffea.nanoevents.schemas.base import BaseSchema, zip_forms

from na64reco.eventtree import contract

logger = logging.getLogger(__name__)

__all__ = ["DETECTOR_COLLECTIONS", "NA64Schema", "behavior", "raw_arrays"]

behavior: dict = {}
behavior.update(base.behavior)


@ak.mixin_class(behavior)
class NA64Events(base.NanoEvents):
    """Top-level event record with trigger-bit predicates."""

    def _has(self, bit: int):
        return (self.trigger & bit) != 0

    @property
    def is_physics_trigger(self):
        """Physics trigger bit (1) set."""
        return self._has(contract.TRIGGER_PHYSICS)

    @property
    def is_beam_trigger(self):
        """Prescaled unbiased beam trigger bit (2) set."""
        return self._has(contract.TRIGGER_BEAM)

    @property
    def is_random_trigger(self):
        """Random (pedestal) trigger bit (4) set."""
        return self._has(contract.TRIGGER_RANDOM)

    @property
    def is_calibration_trigger(self):
        """Calibration trigger bit (8) set."""
        return self._has(contract.TRIGGER_CALIBRATION)


class _PlaneHit:
    @property
    def is_x(self):
        """Hit on an x plane (plane 0)."""
        return self.plane == 0

    @property
    def is_y(self):
        """Hit on a y plane (plane 1)."""
        return self.plane == 1


@ak.mixin_class(behavior)
class MMHit(_PlaneHit):
    """A Micromegas strip hit: station, plane, strip, amp, t."""


@ak.mixin_class(behavior)
class StrawHit(_PlaneHit):
    """A straw-tube hit: station, plane, wire, t."""


@ak.mixin_class(behavior)
class Detector:
    """A fixed-geometry detector: amp and t arrays of the contract shape."""


# collection name -> (branch prefix, record name)
DETECTOR_COLLECTIONS = {
    "ECAL": ("ecal", "Detector"),
    "HCAL": ("hcal", "Detector"),
    "SRD": ("srd", "Detector"),
    "VETO": ("veto", "Detector"),
    "Counters": ("counter", "Detector"),
}
_HIT_COLLECTIONS = {"MM": ("mm", "MMHit"), "Straw": ("st", "StrawHit")}


def _strip_parameters(form: dict) -> dict:
    """Drop uproot's ``__doc__``/``typename`` parameters below the branch level (cosmetic)."""
    form = dict(form)
    params = {k: v for k, v in form.get("parameters", {}).items() if k not in _UPROOT_PARAMS}
    form["parameters"] = params
    if "content" in form:
        form["content"] = _strip_parameters(form["content"])
    return form


_UPROOT_PARAMS = ("__doc__", "typename")


class NA64Schema(BaseSchema):
    """Build the NA64 event view from the flat branch forms of an ``events`` tree."""

    def __init__(self, base_form, *args, **kwargs):
        super().__init__(base_form)
        self._form["parameters"]["__record__"] = "NA64Events"
        branches = {
            name: _strip_parameters(form)
            for name, form in zip(self._form["fields"], self._form["contents"], strict=True)
        }
        self._form["fields"], self._form["contents"] = self._build(branches)

    @staticmethod
    def _build(branches: dict) -> tuple[list, list]:
        used: set[str] = set()
        out: dict[str, dict] = {}
        for name in ("run", "spill", "event", "trigger"):
            if name in branches:
                out[name] = branches[name]
                used.add(name)
        for coll, (prefix, record) in DETECTOR_COLLECTIONS.items():
            parts = {
                f: branches[f"{prefix}_{f}"] for f in ("amp", "t") if f"{prefix}_{f}" in branches
            }
            if parts:
                out[coll] = zip_forms((parts), coll, record)
                used.update(f"{prefix}_{f}" for f in parts)
        for coll, (prefix, record) in _HIT_COLLECTIONS.items():
            names = [b.name for b in contract.JAGGED_BRANCHES if b.collection == prefix]
            parts = {n[len(prefix) + 1 :]: branches[n] for n in names if n in branches}
            if parts:
                out[coll] = zip_forms((parts), coll, record)
                used.update(n for n in names if n in branches)
                used.add("n" + prefix)
        mc = {b.name: branches[b.name] for b in contract.MC_BRANCHES if b.name in branches}
        mc.update({k: v for k, v in branches.items() if k.startswith("mc_") and k not in mc})
        if mc:
            out["MC"] = zip_forms(({k[3:]: v for k, v in mc.items()}), "MC", None)
            used.update(mc)
        for name, form in branches.items():
            if name not in used:
                out[name] = form
        return list(out), list(out.values())

    @classmethod
    def behavior(cls):
        """The NA64 behaviours (coffea base behaviours included)."""
        return behavior


def raw_arrays(events) -> dict:
    """The raw event-tree arrays of a NanoEvents chunk as the writer-style dict the
    reconstruction takes (``reconstruct_event``): run, spill, event, trigger, ``<det>_amp``,
    ``<det>_t`` and the ``mm``/``st`` hit records."""
    out: dict = {name: ak.to_numpy(events[name]) for name in ("run", "spill", "event", "trigger")}
    for collection, (prefix, _) in DETECTOR_COLLECTIONS.items():
        col = events[collection]
        out[f"{prefix}_amp"] = ak.to_numpy(col.amp)
        out[f"{prefix}_t"] = ak.to_numpy(col.t)
    out["mm"] = ak.zip({k: events.MM[k] for k in ("station", "plane", "strip", "amp", "t")})
    out["st"] = ak.zip({k: events.Straw[k] for k in ("station", "plane", "wire", "t")})
    return out
