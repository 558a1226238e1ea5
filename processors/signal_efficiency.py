"""Signal efficiency: the cut set applied to simulated signal samples, per model and mass.

Truth is used for bookkeeping only (the emitted energy of each event, the generated spectrum in
the file metadata): the selection itself sees reconstructed quantities, as on data. Signal
samples are simulation, never blinded.

Factorised as in paper 003 Sec. IV B: the upstream cuts (``UPSTREAM_CUTS``: trigger, momentum,
SRD, pile-up, beam cell) see the incoming electron and are the same for every model; the
downstream ones (shower shape, extra charged, VETO, HCAL, box) depend on the emitted energy E_F
only: eta_down(E_F) = N(all cuts, E_F) / N(upstream cuts, E_F).

Output per sample key ``"<model>/<mass_gev>"``: ``cutflow`` (recorded events after each
cumulative cut), ``e_miss_upstream`` and ``e_miss_selected`` (true emitted energy after the
upstream cuts and after every cut), ``e_miss_generated`` (the generated spectrum, from the file
metadata: added once per file), ``period`` and ``events_generated``. ``efficiencies(output,
cutset)`` turns them into eps_up, eta_down and eps = eps_up x <eta_down> relative to the bosons
emitted in the signal region (E_F > E0 - E_box), with binomial errors and the systematic
``SYST_REL``.
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
from na64reco.sim.run import E_MISS_EDGES_GEV

UPSTREAM_CUTS = ("trigger", "momentum", "srd", "pileup", "beam_cell")
# relative systematic, quadrature sum of: dimuon data/MC yield 10% (papers 000: ~10%, 002: 15%),
# trigger efficiency 0.02/0.95 [paper 000]; the boson yield model is the limit module's business
SYST_COMPONENTS = {"dimuon_data_mc": 0.10, "trigger": 0.02 / 0.95}
SYST_REL = float(np.sqrt(sum(v**2 for v in SYST_COMPONENTS.values())))


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
        upstream = np.ones(n, dtype=bool)
        flow = {"recorded": n}
        for name, mask in masks.items():
            passed &= mask
            if name in UPSTREAM_CUTS:
                upstream &= mask
            flow[name] = int(passed.sum())
        sample["cutflow"] = flow
        e_miss = np.asarray(events.MC.e_miss, dtype=float)
        sample["e_miss_upstream"] = np.histogram(e_miss[upstream], bins=E_MISS_EDGES_GEV)[0]
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
    """Per sample: eps_up, eta_down(E_F), eps = eps_up x <eta_down>, stat and syst errors."""
    rows = {}
    centres = 0.5 * (E_MISS_EDGES_GEV[1:] + E_MISS_EDGES_GEV[:-1])
    for key, s in sorted(output["samples"].items()):
        (period,) = sorted(s["period"])
        thr = get_period(period).beam_energy_gev - box_threshold_gev(cutset, period)
        region = centres > thr
        gen = np.asarray(s["e_miss_generated"])
        up = np.asarray(s["e_miss_upstream"])
        sel = np.asarray(s["e_miss_selected"])
        n_gen, n_up, n_sel = (int(x[region].sum()) for x in (gen, up, sel))
        eps_up = n_up / n_gen if n_gen else float("nan")
        eta = n_sel / n_up if n_up else float("nan")
        eps = n_sel / n_gen if n_gen else float("nan")
        with np.errstate(invalid="ignore", divide="ignore"):
            eta_bins = np.where(up > 0, sel / np.maximum(up, 1), np.nan)
        model, mass = key.split("/")
        rows[key] = {
            "model": model,
            "mass_gev": float(mass),
            "period": period,
            "events_generated": int(s["events_generated"]),
            "generated_in_region": n_gen,
            "selected": n_sel,
            "upstream": eps_up,
            "upstream_stat": float(np.sqrt(eps_up * (1 - eps_up) / n_gen)) if n_gen else None,
            "downstream": eta,
            "downstream_stat": float(np.sqrt(eta * (1 - eta) / n_up)) if n_up else None,
            "efficiency": eps,
            "efficiency_stat": float(np.sqrt(eps * (1 - eps) / n_gen)) if n_gen else None,
            "efficiency_syst": eps * SYST_REL,
            "cutflow": s["cutflow"],
            "eta_down": {
                "e_f_gev": [float(c) for c, r in zip(centres, region, strict=True) if r],
                "eta": [float(x) if np.isfinite(x) else 0.0 for x in eta_bins[region]],
            },
        }
    return rows


__all__ = [
    "SYST_REL",
    "UPSTREAM_CUTS",
    "SignalEfficiencyProcessor",
    "box_threshold_gev",
    "efficiencies",
]
