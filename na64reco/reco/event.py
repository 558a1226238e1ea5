"""Event reconstruction: every per-event quantity a selection can use, from raw arrays.

``reconstruct_event(arrays, cset)`` runs the calorimeter reconstruction, the shower-shape chi2,
the tracking and the trigger emulation on a chunk of events of one calibration set (one
period), and returns flat numpy arrays: every name of ``na64reco.cutsets.variables.VARIABLES``
plus the detailed quantities of the stages (``ecal_cell_e``, ``hcal_module_e``, track slopes,
...). Pure function, no file access.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from na64reco.calibration.constants import CalibrationSet
from na64reco.conditions import get_period
from na64reco.cutsets.variables import VARIABLES
from na64reco.eventtree.contract import TRIGGER_PHYSICS
from na64reco.reco.calorimeters import reconstruct_calorimeters
from na64reco.reco.rows import row_max, row_min, row_sum
from na64reco.reco.showershape import CHI2_NO_SHOWER, shower_chi2
from na64reco.reco.tracking import reconstruct_tracks
from na64reco.trigger import emulate_trigger

SRD_MODULE_MIN_GEV = 0.0005  # an SRD module "fired" above 0.5 MeV in time [choose: ~3 noise]

__all__ = ["event_shower_chi2", "event_tracks", "hcal_inline_range", "reconstruct_event"]


def event_tracks(arrays: dict, cset: CalibrationSet) -> dict[str, np.ndarray]:
    """The tracking part of ``reconstruct_event`` (it reads no calorimeter constant)."""
    mm = arrays.get("mm")
    st = arrays.get("st")
    if mm is None or st is None:
        n = len(arrays["ecal_amp"])
        mm = mm if mm is not None else ak.Array([[]] * n)
        st = st if st is not None else ak.Array([[]] * n)
    return reconstruct_tracks(mm, st, cset, get_period(cset.period).geometry)


def event_shower_chi2(calo: dict[str, np.ndarray], cset: CalibrationSet) -> np.ndarray:
    """The shower-shape chi2 / ndf of ``reconstruct_calorimeters`` output ``calo``
    (CHI2_NO_SHOWER everywhere when the constants hold no reference profile: the cut fails)."""
    if cset.shower_profile is None:
        return np.full(len(calo["ecal_e"]), CHI2_NO_SHOWER, dtype=np.float32)
    return shower_chi2(
        calo["ecal_cell_e"],
        calo["hit_ix"],
        calo["hit_iy"],
        calo["cog_x"],
        calo["cog_y"],
        cset.shower_profile,
        get_period(cset.period).geometry.ecal_cell_pitch_cm,
        usable_cells=cset.ecal.usable.any(axis=0),
    )


def hcal_inline_range(calo: dict, geometry) -> tuple[np.ndarray, np.ndarray]:
    """(smallest, largest) energy of the HCAL modules in line with the beam
    (``geometry.hcal_modules_in_line``), from ``hcal_module_e``: the MIP-muon tag's variables
    and two of the blinded regions'."""
    in_line = calo["hcal_module_e"][:, : geometry.hcal_modules_in_line]
    return row_min(in_line), row_max(in_line)


def reconstruct_event(
    arrays: dict, cset: CalibrationSet, tracks: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """All reconstructed quantities of a chunk (one calibration set) as flat arrays.

    ``tracks``: the ``event_tracks`` of the same events with the same tracker constants (a
    calorimeter-gain variation reuses the nominal ones instead of tracking again)."""
    period = get_period(cset.period)
    geometry = period.geometry
    calo = reconstruct_calorimeters(arrays, cset)
    out: dict[str, np.ndarray] = dict(calo)
    out["shower_chi2"] = event_shower_chi2(calo, cset)
    if tracks is None:
        tracks = event_tracks(arrays, cset)
    out.update({k: v for k, v in tracks.items() if k not in out})
    out["momentum"] = np.abs(tracks["p_gev"])
    trig = emulate_trigger(calo, period)
    out.update({f"trigger_{k}": v for k, v in trig.items() if k != "trigger"})
    out["trigger_emulated"] = trig["trigger"]
    out["trigger_physics"] = (np.asarray(arrays["trigger"]) & TRIGGER_PHYSICS) > 0
    bx, by = geometry.beam_cell
    out["in_beam_cell"] = (calo["hit_ix"] == bx) & (calo["hit_iy"] == by)
    out["srd_modules_fired"] = row_sum(calo["srd_module_e"] > SRD_MODULE_MIN_GEV)
    out["hcal_inline_min"], out["hcal_inline_max"] = hcal_inline_range(calo, geometry)
    out["veto_e"] = calo["veto_max"]  # the cut is per module: the largest module counts
    out["veto_sum"] = row_sum(calo["veto_module_e"])
    missing = set(VARIABLES) - set(out)
    if missing:  # the contract with the cut sets
        raise RuntimeError(f"reconstruct_event does not compute {sorted(missing)}")
    return out
