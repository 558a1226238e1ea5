"""Signal efficiency: the cut set applied to simulated signal samples, per model and mass.

Truth is used for bookkeeping only (the emitted energy of each event, the generated spectrum in
the file metadata): the selection itself sees reconstructed quantities, as on data. Signal
samples are simulation, never blinded.

Output per sample key ``"<model>/<mass_gev>"``: ``cutflow`` (recorded events after each
cumulative cut), ``e_miss_selected`` (true emitted energy of the events passing every cut),
``e_miss_generated`` (the generated spectrum, from the file metadata: added once per file),
``period`` and ``events_generated``. ``efficiencies(output, cutset)`` turns them into the
efficiency relative to the events emitted in the signal region (E_miss > E0 - E_box) and
eta(E_F), the efficiency per bin of emitted energy (paper 003 Sec. IV B).
"""

from __future__ import annotations

import numpy as np
from coffea import processor

from na64reco.calibration.constants import CalibrationDB
from na64reco.conditions import get_period, period_of_run
from na64reco.cutsets.config import CutSet
from na64reco.cutsets.evaluate import cut_masks
from na64reco.processors.selection import raw_arrays
from na64reco.reco.event import reconstruct_event

E_MISS_EDGES_GEV = np.linspace(0.0, 120.0, 121)  # as in na64reco.sim.run


class SignalEfficiencyProcessor(processor.ProcessorABC):
    """Cutflow and emitted-energy spectra of signal samples."""

    def __init__(self, cutset: CutSet, calibration: CalibrationDB, signal_info: dict[str, dict]):
        self.cutset = cutset
        self.calibration = calibration
        self.signal_info = signal_info  # file path -> the "signal" metadata of the file

    def process(self, events):
        filename = events.metadata["filename"]
        info = self.signal_info[filename]
        key = f"{info['model']}/{info['mass_gev']:g}"
        arrays = raw_arrays(events)
        n = len(arrays["run"])
        out = {"files": {filename: n}, "samples": {key: {}}}
        sample = out["samples"][key]
        if events.metadata.get("entrystart", 0) == 0:  # once per file
            sample["events_generated"] = int(info["events_generated"])
            sample["e_miss_generated"] = np.asarray(info["e_miss_generated"], dtype=np.int64)
        if n == 0:
            return out
        run = int(arrays["run"][0])
        period = period_of_run(run).name
        sample["period"] = {period}
        variables = reconstruct_event(arrays, self.calibration.for_run(run))
        masks = cut_masks(self.cutset, variables, period)
        passed = np.ones(n, dtype=bool)
        flow = {"recorded": n}
        for name, mask in masks.items():
            passed &= mask
            flow[name] = int(passed.sum())
        sample["cutflow"] = flow
        e_miss = np.asarray(events.MC.e_miss, dtype=float)
        sample["e_miss_selected"] = np.histogram(e_miss[passed], bins=E_MISS_EDGES_GEV)[0]
        return out

    def postprocess(self, accumulator):
        return accumulator


def box_threshold_gev(cutset: CutSet, period: str) -> float:
    """The E_ECAL upper bound of the signal box of ``period`` (the ``box`` cut on ecal_e)."""
    for cut in cutset.cuts:
        if cut.name in cutset.signal_box:
            for cond in cut.conditions:
                if cond.variable == "ecal_e":
                    return float(cond.bounds(period)[1])
    raise ValueError(f"cut set {cutset.name!r} has no E_ECAL bound in its signal box")


def efficiencies(output: dict, cutset: CutSet) -> dict[str, dict]:
    """Efficiency per sample: selected / generated with E_miss > E0 - E_box, with its binomial
    uncertainty, and eta(E_F) per 1 GeV bin of emitted energy."""
    result = {}
    for key, s in sorted(output["samples"].items()):
        (period,) = sorted(s["period"])
        e0 = get_period(period).beam_energy_gev
        threshold = e0 - box_threshold_gev(cutset, period)
        centres = 0.5 * (E_MISS_EDGES_GEV[1:] + E_MISS_EDGES_GEV[:-1])
        in_region = centres > threshold
        gen = np.asarray(s["e_miss_generated"])
        sel = np.asarray(s["e_miss_selected"])
        n_gen = int(gen[in_region].sum())
        n_sel = int(sel[in_region].sum())
        eff = n_sel / n_gen if n_gen else float("nan")
        err = float(np.sqrt(eff * (1 - eff) / n_gen)) if n_gen else float("nan")
        with np.errstate(invalid="ignore", divide="ignore"):
            eta = np.where(gen > 0, sel / np.maximum(gen, 1), np.nan)
        model, mass = key.split("/")
        result[key] = {
            "model": model,
            "mass_gev": float(mass),
            "period": period,
            "events_generated": int(s["events_generated"]),
            "generated_in_region": n_gen,
            "selected": n_sel,
            "efficiency": eff,
            "efficiency_stat": err,
            "cutflow": s["cutflow"],
            "eta_down": {"e_miss_edges_gev": E_MISS_EDGES_GEV.tolist(), "eta": eta.tolist()},
        }
    return result


__all__ = ["SignalEfficiencyProcessor", "box_threshold_gev", "efficiencies"]
