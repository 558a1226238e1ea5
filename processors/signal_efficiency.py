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
upstream cuts and after every cut, in the file's ``e_miss_edges_gev`` bins),
``e_miss_generated`` (the generated spectrum, from the file metadata: added once per file),
``period`` and ``events_generated``; ``corrupt``: the chunks with bad raw values (screened as in
the selection processor: nothing of them is filled, the run raises). ``na64reco.run.efficiency``
turns them into eps_up, eta_down and eps.
"""

from __future__ import annotations

import hist
import numpy as np
from coffea import processor

from na64reco.calibration.constants import CalibrationDB
from na64reco.conditions import period_of_run
from na64reco.cutsets.config import CutSet
from na64reco.cutsets.evaluate import cut_masks
from na64reco.errors import InputFileError
from na64reco.eventtree.nanoevents import preload_branches, raw_arrays
from na64reco.eventtree.reader import check_values
from na64reco.processors.selection import screen_chunk
from na64reco.reco.event import event_tracks, reconstruct_event
from na64reco.systematics.apply import shifted_calibration, shifted_cutset, smeared_arrays
from na64reco.systematics.config import CalibrationShift, CutShift, Systematics
from na64reco.systematics.cutflow import weighted_cutflow
from na64reco.systematics.weights import WEIGHT_BRANCHES, simulation_weight

UPSTREAM_CUTS = ("trigger", "momentum", "srd", "pileup", "beam_cell")


class SignalEfficiencyProcessor(processor.ProcessorABC):
    """Cutflow and emitted-energy spectra of signal samples."""

    #: the raw branches ``process`` reads, loaded in one call per chunk (files by contract
    #: names; the truth it reads is left to the lazy columns)
    preload = tuple(preload_branches())

    def __init__(
        self,
        cutset: CutSet,
        calibration: CalibrationDB,
        signal_info: dict[str, dict],
        systematics: Systematics | None = None,
    ):
        if systematics is not None:
            systematics.check_against(cutset)
        self.systematics = systematics if systematics and systematics.variations else None
        self.cutset = cutset
        self.calibration = calibration
        self.signal_info = signal_info  # file path -> the "signal" metadata of the file

    def process(self, events):
        filename = events.metadata["filename"]
        info = self.signal_info[filename]
        key = f"{info['model']}/{info['mass_gev']:g}"
        arrays = raw_arrays(events)
        n = len(arrays["run"])
        out = {"files": {filename: n}, "samples": {key: {}}, "corrupt": {}}
        sample = out["samples"][key]
        start = int(events.metadata.get("entrystart", 0))
        try:  # bad raw values: nothing filled, run_signal_efficiency raises
            check_values(filename, arrays, start)
            for run in np.unique(arrays["run"]):
                index = np.flatnonzero(arrays["run"] == run)
                part = {k: v[index] for k, v in arrays.items()}
                screen_chunk(filename, part, start + index, self.calibration.for_run(int(run)))
        except InputFileError as exc:
            out["corrupt"][filename] = [f"{exc.item}: {exc.problem}"]
            return out
        if events.metadata.get("entrystart", 0) == 0:  # once per file
            sample["events_generated"] = int(info["events_generated"])
            sample["e_miss_generated"] = np.asarray(info["e_miss_generated"], dtype=np.int64)
        if n == 0:
            return out
        run = int(arrays["run"][0])
        period = period_of_run(run).name
        sample["period"] = {period}
        cset = self.calibration.for_run(run)
        tracks = event_tracks(arrays, cset)
        variables = reconstruct_event(arrays, cset, tracks=tracks)
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
        edges = np.asarray(info["e_miss_edges_gev"], dtype=float)  # the file's own binning
        sample["e_miss_upstream"] = np.histogram(e_miss[upstream], bins=edges)[0]
        sample["e_miss_selected"] = np.histogram(e_miss[passed], bins=edges)[0]
        if self.systematics is not None:
            sample["variations"] = self._variations(
                events, arrays, cset, (tracks, variables), e_miss, edges
            )
        return out

    def _variations(self, events, arrays, cset, nominal, e_miss, edges) -> dict:
        """Per variation: the weighted cutflow ([sum w, sum w^2] after each cut, from
        ``recorded``) and the weighted spectrum of the selected events' true emitted energy
        (hist Weight storage). Calibration variations are reconstructed again from the raw
        arrays in memory (nominal tracks), cut variations evaluated on the nominal variables,
        weight variations weight the nominal selection (weights of the truth fields)."""
        tracks, nominal_vars = nominal
        period = period_of_run(int(arrays["run"][0])).name
        out = {}
        for var in self.systematics.variations:
            for direction, label in zip(("up", "down"), var.labels(), strict=True):
                variables, cutset, weights = nominal_vars, self.cutset, None
                if isinstance(var, CalibrationShift) and var.quantity == "resolution":
                    if direction == "up":  # one-sided: down is the nominal
                        smeared = smeared_arrays(arrays, cset, var)
                        variables = reconstruct_event(smeared, cset, tracks=tracks)
                elif isinstance(var, CalibrationShift):
                    shifted = shifted_calibration(cset, var, direction)
                    variables = reconstruct_event(arrays, shifted, tracks=tracks)
                elif isinstance(var, CutShift):
                    cutset = shifted_cutset(self.cutset, var, direction)
                else:
                    factor = var.up if direction == "up" else var.down
                    truth = np.asarray(events.MC[WEIGHT_BRANCHES[var.weight]])
                    weights = simulation_weight(var.weight, factor, truth, period)
                masks = cut_masks(cutset, variables, period)
                passed = np.ones(len(e_miss), dtype=bool)
                for mask in masks.values():
                    passed &= mask
                h = hist.Hist(
                    hist.axis.Variable(edges, name="e_miss", label="true E_miss [GeV]"),
                    storage=hist.storage.Weight(),
                )
                h.fill(e_miss[passed], weight=None if weights is None else weights[passed])
                out[label] = {
                    "cutflow": weighted_cutflow(masks, weights, initial="recorded"),
                    "e_miss_selected": h,
                }
        return out

    def postprocess(self, accumulator):
        return accumulator


__all__ = ["UPSTREAM_CUTS", "SignalEfficiencyProcessor"]
