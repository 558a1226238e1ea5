"""The event streams a calibration is derived from: per period, read from a fileset.

``load_calibration_inputs(fileset)`` gives one :class:`CalibrationInputs` per period (random
triggers, ECAL-scan and muon-run events as writer-style array dicts); :class:`Report` collects
the problems found while deriving; ``channel_name`` names a channel for humans.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

from na64reco.calib.parameters import COUNTER_NAMES
from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    CalibrationError,
)
from na64reco.eventtree import contract, open_event_file
from na64reco.fileset import Fileset, as_fileset, entry_input_map

logger = logging.getLogger(__name__)


def channel_name(detector: str, index: tuple[int, ...] | int) -> str:
    """Human-readable name of a channel, e.g. ``ECAL main[2][3]``, ``HCAL1[0][2]``, ``V1``."""
    idx = (
        np.unravel_index(index, contract.DETECTOR_SHAPES[detector])
        if np.ndim(index) == 0
        else tuple(index)
    )
    idx = tuple(int(i) for i in idx)
    if detector == "ecal":
        return f"ECAL {'PS' if idx[0] == 0 else 'main'}[{idx[1]}][{idx[2]}]"
    if detector == "hcal":
        return f"HCAL{idx[0]}[{idx[1]}][{idx[2]}]"
    if detector == "veto":
        return f"VETO PMT{idx[0]} (module {idx[0] // 2})"
    if detector == "counter":
        return COUNTER_NAMES[idx[0]]
    return f"SRD{idx[0]}"


@dataclass
class CalibrationInputs:
    """The event streams of one period (writer-style array dicts; None where absent)."""

    period: str
    beam_energy_gev: float
    random: dict | None
    scan: dict | None
    muon: dict | None
    sources: list[dict] = field(default_factory=list)
    origin: str = ""  # fileset (or other) name for error messages


class Report:
    """Problems found while deriving: logged and kept for the provenance."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, detector: str, channel: str, constant: str, problem: str, action: str) -> None:
        item = {
            "detector": detector,
            "channel": channel,
            "constant": constant,
            "problem": problem,
            "action": action,
        }
        self.items.append(item)
        logger.warning("%s %s: %s: %s (%s)", detector, channel, constant, problem, action)


# --- helpers ------------------------------------------------------------------------------------


def as_float64(arrays: dict, key: str) -> np.ndarray:
    return np.asarray(arrays[key], dtype=np.float64)


def select_events(arrays: dict, mask: np.ndarray) -> dict:
    out = {}
    for k, v in arrays.items():
        out[k] = v[mask] if isinstance(v, np.ndarray | ak.Array) else v
    return out


def concatenate_arrays(parts: list[dict]) -> dict | None:
    """Concatenate writer-style array dicts (keys common to all parts)."""
    parts = [p for p in parts if p is not None and len(p["trigger"])]
    if not parts:
        return None
    keys = set.intersection(*(set(p) for p in parts))
    out = {}
    for k in keys:
        vals = [p[k] for p in parts]
        out[k] = np.concatenate(vals) if isinstance(vals[0], np.ndarray) else ak.concatenate(vals)
    return out


def type_groups(detector: str) -> list[tuple]:
    """Index slices of the channels sharing one electronics type (ECAL: per section)."""
    return [(0,), (1,)] if detector == "ecal" else [()]


# --- filesets -----------------------------------------------------------------------------------

_CALO_BRANCHES = [f"{d}_{q}" for d in CALORIMETER_DETECTORS for q in ("amp", "t")]
_BRANCHES = ["run", "trigger", *_CALO_BRANCHES, "mm", "st"]


def _file_kind(entry, metadata: dict) -> str | None:
    kind = metadata.get("kind") or (entry.generator or {}).get("kind")
    if entry.kind == "random":
        return "random"
    if entry.kind in ("calibration", "physics"):
        return kind
    return None


def load_calibration_inputs(fileset: Fileset | str | Path) -> dict[str, CalibrationInputs]:
    """Read the calibration streams of a fileset, per period.

    Random triggers: trigger bit 4 events of random and physics files; ecal-scan and muon
    events: trigger bit 8 of calibration files whose metadata (or generator record) says
    ``kind`` ``ecal-scan`` or ``muon``. Signal files are ignored.
    """
    fs = as_fileset(fileset)
    fileset_path = fs.source or fs.name
    streams: dict[str, dict[str, list]] = {}
    sources: dict[str, list] = {}
    beam: dict[str, set] = {}
    for entry in fs.files:
        if entry.kind == "signal":
            continue
        ef = open_event_file(entry.path, input_map=entry_input_map(entry))
        kind = _file_kind(entry, ef.metadata)
        if entry.kind == "calibration" and kind not in ("ecal-scan", "muon"):
            raise CalibrationError(
                f"{fileset_path}: {entry.path}: calibration file of unknown kind {kind!r} "
                "(metadata 'kind' must be 'ecal-scan' or 'muon')"
            )
        arrays = ef.arrays(_BRANCHES)
        trig = arrays["trigger"]
        per = streams.setdefault(entry.period, {"random": [], "ecal-scan": [], "muon": []})
        used = {}
        rnd = (trig & contract.TRIGGER_RANDOM) != 0
        if rnd.any():
            per["random"].append(select_events(arrays, rnd))
            used["random"] = int(rnd.sum())
        if kind in ("ecal-scan", "muon"):
            cal = (trig & contract.TRIGGER_CALIBRATION) != 0
            per[kind].append(select_events(arrays, cal))
            used[kind] = int(cal.sum())
            if kind == "ecal-scan":
                if "beam_energy_gev" not in ef.metadata:
                    raise CalibrationError(
                        f"{fileset_path}: {entry.path}: no beam_energy_gev in the metadata"
                    )
                beam.setdefault(entry.period, set()).add(float(ef.metadata["beam_energy_gev"]))
        sources.setdefault(entry.period, []).append(
            {
                "path": Path(entry.path).name,
                "sha256": entry.sha256,
                "kind": kind or entry.kind,
                "runs": [entry.run_min, entry.run_max],
                "events_used": used,
            }
        )
    out = {}
    for period, per in streams.items():
        energies = beam.get(period, set())
        if len(energies) > 1:
            raise CalibrationError(
                f"{fileset_path}: period {period}: ecal-scan files disagree on the beam energy "
                f"({sorted(energies)})"
            )
        if not per["ecal-scan"] and not per["muon"] and not per["random"]:
            continue
        out[period] = CalibrationInputs(
            period=period,
            beam_energy_gev=energies.pop() if energies else float("nan"),
            random=concatenate_arrays(per["random"]),
            scan=concatenate_arrays(per["ecal-scan"]),
            muon=concatenate_arrays(per["muon"]),
            sources=sources[period],
            origin=f"fileset {fileset_path}",
        )
    return out
