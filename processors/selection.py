"""The generic selection processor: reconstruct, apply a cut set, fill blinded histograms.

A coffea ``ProcessorABC``, thin and stateless: everything it needs (cut set, calibration
constants, blinding choice) is given at construction and never modified. For each chunk it
screens the raw values (``na64reco.eventtree.reader.check_values``: ADC range, times; hit
indices against the period's geometry; amplitudes far below their pedestals), reconstructs
every selection variable (``na64reco.reco.event``), evaluates the cut set per run period and
drops, before anything is filled, the events of every protected blinded region
(``na64reco.blinding``: evaluated with the blinding definition's own constants, whatever the
run's calibration) and of the cut set's own signal box, unless explicitly opened (``unblind``:
the cut set's box and the protected region of the same name, nothing else). It fills:

* ``cutflow``: per period, events after each cumulative cut (blinded events never counted; the
  cuts defining the signal region are reported ``null`` while blinded, see
  ``na64reco.run.outputs``);
* ``plane``: the (E_ECAL, E_HCAL) plane per period and selection stage (all events, then after
  each cumulative cut), integer counts;
* ``nminus1``: per cut, the distribution of its first condition's variable with every other cut
  applied (for cuts outside the signal region, every other cut outside it: the distribution over
  the whole (E_ECAL, E_HCAL) plane, which a blinded analysis can look at);
* ``sideband_events``: run/spill/event, E_ECAL, E_HCAL of the events passing every cut but the
  signal-region ones (all cuts when unblinded), for background studies;
* ``files``: events processed per input file (accounting);
* ``corrupt``: per file, the problems of chunks with bad raw values (see above): such a chunk
  fills nothing and ``run_analysis`` raises ``InputFileError`` for it after the run;
* ``saturated``: per file and amplitude branch, the readings at the saturation code (valid,
  counted: ``summary.json`` flags them);
* ``skim`` (only with ``skim_stage``): per file, the entry numbers of the visible events that
  pass every cut up to and including ``skim_stage`` (``"all"``: every visible event), from
  which ``na64reco.run.skim`` writes the skims: a hidden event is never listed.

Memory: run with ``uproot_options={"array_cache": None}`` (``run_analysis`` does). With uproot's
default per-file array cache every column a chunk reads stays referenced from its file object,
which sits in a reference cycle with uproot's TTree models: the columns are freed only by
CPython's full collections, every ~80 chunks here, and an iterative run over 80 files peaked at
2.1 GB instead of 0.46 GB.
"""

from __future__ import annotations

import hist
import numpy as np
from coffea import processor

from na64reco.blinding.definition import (
    BLINDING,
    blinding_set,
    load_blinding_calibration,
    region_masks,
)
from na64reco.calibration.constants import CalibrationDB, CalibrationSet
from na64reco.conditions import get_period, period_of_run
from na64reco.cutsets.config import CutSet
from na64reco.cutsets.evaluate import blind_mask, cut_masks
from na64reco.cutsets.variables import VARIABLES
from na64reco.errors import InputFileError
from na64reco.eventtree.nanoevents import preload_branches, raw_arrays
from na64reco.eventtree.reader import check_values
from na64reco.eventtree.value_screen import check_hit_indices, check_pedestals
from na64reco.reco.calorimeters import reconstruct_calorimeter_energies
from na64reco.reco.event import event_tracks, hcal_inline_range, reconstruct_event
from na64reco.systematics.config import Systematics
from na64reco.systematics.variations import NOMINAL, data_variations

ECAL_AXIS = dict(bins=150, start=0.0, stop=150.0)  # 1 GeV: the box edges 47, 50 are bin edges
HCAL_AXIS = dict(bins=120, start=0.0, stop=120.0)  # 1 GeV: the zero threshold is a bin edge
# Binning of the N-1 distributions per variable: (bins, start, stop)
NMINUS1_BINNING: dict[str, tuple[int, float, float]] = {
    "trigger_physics": (2, -0.5, 1.5),
    "trigger_emulated": (2, -0.5, 1.5),
    "momentum": (120, 70.0, 130.0),
    "srd_e": (120, 0.0, 0.12),
    "srd_modules_fired": (4, -0.5, 3.5),
    "ecal_e": (150, 0.0, 150.0),
    "ecal_ps": (100, 0.0, 20.0),
    "ecal_out_of_time": (100, 0.0, 50.0),
    "hcal_e": (120, 0.0, 120.0),
    "hcal_out_of_time": (100, 0.0, 50.0),
    "hcal_inline_min": (100, 0.0, 10.0),
    "hcal_inline_max": (100, 0.0, 10.0),
    "in_beam_cell": (2, -0.5, 1.5),
    "shower_chi2": (100, 0.0, 20.0),
    "veto_e": (100, 0.0, 0.04),
    "n_mm_extra_upstream": (10, -0.5, 9.5),
    "n_mm_extra_downstream": (10, -0.5, 9.5),
    "n_straw_extra": (10, -0.5, 9.5),
}


def region_variables(arrays: dict, cset: CalibrationSet) -> dict[str, np.ndarray]:
    """The variables of the blinded regions (``na64reco.blinding.REGION_VARIABLES``) of a
    chunk, reconstructed with ``cset`` (the blinding constants): the calorimeters only, with the
    definitions of ``reconstruct_event`` (tests check the two agree)."""
    calo = reconstruct_calorimeter_energies(arrays, cset)
    low, high = hcal_inline_range(calo, get_period(cset.period).geometry)
    return {
        "ecal_e": np.asarray(calo["ecal_e"]),
        "hcal_e": np.asarray(calo["hcal_e"]),
        "hcal_inline_min": low,
        "hcal_inline_max": high,
    }


def same_constants(a: CalibrationSet, b: CalibrationSet) -> bool:
    """True when two calibration sets hold the same calorimeter constants (then the variables
    reconstructed with one are those of the other)."""
    if a is b:
        return True
    if (a.period, a.run_min, a.run_max) != (b.period, b.run_min, b.run_max):
        return False
    return all(
        np.array_equal(getattr(a.detector(d), q), getattr(b.detector(d), q))
        for d in ("ecal", "hcal")
        for q in ("pedestal", "gain", "noise", "t0", "status")
    )


def screen_chunk(path: str, arrays: dict, entries: np.ndarray, cset: CalibrationSet) -> None:
    """The raw-value checks that need the conditions: hit indices in the period's geometry,
    amplitudes not far below their pedestals (InputFileError naming branch and entry)."""
    check_hit_indices(path, arrays, entries, get_period(cset.period).geometry)
    check_pedestals(path, arrays, entries, cset)


class SelectionProcessor(processor.ProcessorABC):
    """Reconstruct, select and fill blinded histograms for one cut set.

    ``blinding_calibration``: the constants the protected regions are evaluated with (default:
    those the blinding definition names, sha256 checked); ``unblind`` opens the cut set's own
    box and the protected region named like the cut set, every other region stays hidden.
    ``systematics``: the declared variations evaluated in the same pass (``variations``
    output, see ``_fill_variations``); None or none of calibration/cut kind: the output of a
    run without systematics, nothing added.
    """

    #: the branches ``process`` reads, loaded in one call per chunk (files by contract names)
    preload = tuple(preload_branches())

    def __init__(
        self,
        cutset: CutSet,
        calibration: CalibrationDB,
        unblind: bool = False,
        blinding_calibration: CalibrationDB | None = None,
        skim_stage: str | None = None,
        systematics: Systematics | None = None,
    ):
        if skim_stage is not None and skim_stage not in ["all", *cutset.cut_names]:
            raise ValueError(
                f"skim stage {skim_stage!r}: one of all, {', '.join(cutset.cut_names)}"
            )
        self.skim_stage = skim_stage
        if systematics is not None:
            systematics.check_against(cutset)
            if not systematics.labels(("calibration", "cut")):
                systematics = None
        self.systematics = systematics
        self.cutset = cutset
        self.calibration = calibration
        self.unblind = bool(unblind)
        if blinding_calibration is None:
            blinding_calibration = load_blinding_calibration()[0]
        self.blinding_calibration = blinding_calibration
        self.opened = (cutset.name,) if self.unblind and BLINDING.region(cutset.name) else ()
        self.hidden_regions = tuple(n for n in BLINDING.names if n not in self.opened)

    # --- output layout --------------------------------------------------------------------
    def stages(self) -> list[str]:
        return ["all", *self.cutset.cut_names]

    def _plane(self, periods: list[str] = ()) -> hist.Hist:
        return hist.Hist(
            # growing: a chunk holds one or two periods, a fixed axis of all five made every
            # chunk's output 7.9 MB (allocated, pickled, merged) instead of 1.6 MB
            hist.axis.StrCategory(list(periods), name="period", growth=True),
            hist.axis.StrCategory(self.stages(), name="stage", label="after cut"),
            hist.axis.Regular(**ECAL_AXIS, name="ecal_e", label="E_ECAL [GeV]"),
            hist.axis.Regular(**HCAL_AXIS, name="hcal_e", label="E_HCAL [GeV]"),
            storage=hist.storage.Int64(),
        )

    def _nminus1(self, variable: str, periods: list[str] = ()) -> hist.Hist:
        bins, start, stop = NMINUS1_BINNING[variable]
        unit, meaning = VARIABLES[variable]
        label = f"{variable} [{unit}]" if unit else variable
        return hist.Hist(
            hist.axis.StrCategory(list(periods), name="period", growth=True),
            hist.axis.Regular(bins, start, stop, name=variable, label=label),
            storage=hist.storage.Int64(),
            metadata=meaning,
        )

    def variation_labels(self) -> list[str]:
        return self.systematics.labels(("calibration", "cut")) if self.systematics else []

    def _ecal_sideband(self, periods: list[str] = ()) -> hist.Hist:
        """E_ECAL of the events after every cut but the signal-region ones, per variation."""
        return hist.Hist(
            hist.axis.StrCategory([NOMINAL, *self.variation_labels()], name="syst"),
            hist.axis.StrCategory(list(periods), name="period", growth=True),
            hist.axis.Regular(**ECAL_AXIS, name="ecal_e", label="E_ECAL [GeV]"),
            storage=hist.storage.Int64(),
        )

    # --- processing ------------------------------------------------------------------------
    def _output(self, filename: str, n: int, periods: list[str]) -> dict:
        """A chunk's empty output; every histogram gets a category for each of ``periods``."""
        out = self._plain_output(filename, n, periods)
        if self.skim_stage is not None:
            out["skim"] = {}
        if self.systematics is not None:
            out["variations"] = {
                "cutflow": {label: {} for label in self.variation_labels()},
                "sideband": {label: {} for label in self.variation_labels()},
                "ecal_sideband": self._ecal_sideband(periods),
            }
        return out

    def _plain_output(self, filename: str, n: int, periods: list[str]) -> dict:
        return {
            "cutflow": {},
            "plane": self._plane(periods),
            "nminus1": {
                cut.name: self._nminus1(cut.conditions[0].variable, periods)
                for cut in self.cutset.cuts
            },
            "sideband_events": {},
            "files": {filename: n},
            "corrupt": {},
            "saturated": {},
        }

    def process(self, events):
        filename = events.metadata["filename"]
        arrays = raw_arrays(events)
        n = len(arrays["run"])
        if n == 0:
            return self._output(filename, n, [])
        start = int(events.metadata.get("entrystart", 0))
        runs = arrays["run"]
        unique = np.unique(runs)
        parts = [(int(unique[0]), arrays, np.arange(start, start + n))]
        if len(unique) > 1:  # constants and cuts are per run (period)
            parts = []
            for run in unique:
                index = np.flatnonzero(runs == run)
                parts.append((int(run), {k: v[index] for k, v in arrays.items()}, start + index))
        try:  # bad raw values: the chunk is not used, run_analysis raises
            saturated = check_values(filename, arrays, start)
            for run, part, entries in parts:
                screen_chunk(filename, part, entries, self.calibration.for_run(run))
        except InputFileError as exc:
            output = self._output(filename, n, [])
            output["corrupt"][filename] = [f"{exc.item}: {exc.problem}"]
            return output
        output = self._output(filename, n, sorted({period_of_run(int(r)).name for r in unique}))
        if saturated:
            output["saturated"][filename] = saturated
        for run, part, entries in parts:
            self._fill(output, part, run, entries, filename)
        return output

    def protected_mask(self, arrays: dict, run: int, cset: CalibrationSet, variables):
        """The events of every protected region not opened, evaluated with the blinding
        constants (the same whatever ``cset``: every variation hides them)."""
        period = period_of_run(run).name
        bset = blinding_set(self.blinding_calibration, run)
        region_vars = variables if same_constants(cset, bset) else region_variables(arrays, bset)
        hidden = np.zeros(len(variables["ecal_e"]), dtype=bool)
        for mask in region_masks(region_vars, period, self.hidden_regions).values():
            hidden |= mask
        return hidden

    def hidden_mask(
        self, arrays: dict, run: int, cset: CalibrationSet, variables, masks, protected=None
    ):
        """The events no output of this run may show: every protected region not opened
        (evaluated with the blinding constants) and, while blinded, the cut set's own box
        (``masks``: of the cut set, or of a cut variation's cut set)."""
        if protected is None:
            protected = self.protected_mask(arrays, run, cset, variables)
        hidden = protected.copy()
        if not self.unblind:
            hidden |= blind_mask(self.cutset, masks)
        return hidden

    def _fill(
        self, output: dict, arrays: dict, run: int, entries: np.ndarray, filename: str
    ) -> None:
        period = period_of_run(run).name
        cset = self.calibration.for_run(run)
        tracks = event_tracks(arrays, cset)
        variables = reconstruct_event(arrays, cset, tracks=tracks)
        masks = cut_masks(self.cutset, variables, period)
        protected = self.protected_mask(arrays, run, cset, variables)
        visible = ~self.hidden_mask(arrays, run, cset, variables, masks, protected)
        ecal, hcal = variables["ecal_e"], variables["hcal_e"]

        flow = output["cutflow"].setdefault(period, {})
        passed = visible.copy()
        flow["all"] = flow.get("all", 0) + int(passed.sum())
        output["plane"].fill(period=period, stage="all", ecal_e=ecal[passed], hcal_e=hcal[passed])
        if self.skim_stage == "all":
            self._skim(output, filename, entries[passed])
        for name, mask in masks.items():
            passed &= mask
            if name == self.skim_stage:
                self._skim(output, filename, entries[passed])
            flow[name] = flow.get(name, 0) + int(passed.sum())
            output["plane"].fill(
                period=period, stage=name, ecal_e=ecal[passed], hcal_e=hcal[passed]
            )
        names = list(masks)
        region_cuts = set(self.cutset.signal_box)
        for cut in self.cutset.cuts:
            # N-1 of a signal-region cut: every other cut; of any other cut: every other cut
            # outside the signal region, so that it is seen over the whole plane (the same
            # definition blinded or not; blinded events are never filled)
            skip = {cut.name} if cut.name in region_cuts else {cut.name} | region_cuts
            others = visible.copy()
            for other in names:
                if other not in skip:
                    others &= masks[other]
            var = cut.conditions[0].variable
            output["nminus1"][cut.name].fill(
                period=period, **{var: np.asarray(variables[var], dtype=float)[others]}
            )
        region = set(self.cutset.signal_box) if not self.unblind else set()
        side = visible.copy()
        for name in names:
            if name not in region:
                side &= masks[name]
        if side.any():
            rows = output["sideband_events"].setdefault(period, [])
            rows.append(
                np.stack(
                    [
                        arrays["run"][side].astype(float),
                        arrays["spill"][side].astype(float),
                        arrays["event"][side].astype(float),
                        ecal[side].astype(float),
                        hcal[side].astype(float),
                    ],
                    axis=1,
                )
            )
        if self.systematics is not None:
            output["variations"]["ecal_sideband"].fill(
                syst=NOMINAL, period=period, ecal_e=ecal[side]
            )
            self._fill_variations(
                output["variations"], arrays, run, cset, (tracks, variables), protected
            )

    def _fill_variations(self, out: dict, arrays, run, cset, nominal, protected) -> None:
        """Per variation: the cumulative cutflow (visible events: the protected regions, the
        same as nominal, and, while blinded, the variation's own box are hidden), the
        sideband events' (E_ECAL, E_HCAL) and their E_ECAL histogram. A calibration
        variation is reconstructed again from the raw arrays in memory, with the nominal
        tracks; a cut variation is evaluated on the nominal variables."""
        period = period_of_run(run).name
        tracks, nominal_vars = nominal
        for var in data_variations(self.systematics, self.cutset, cset):
            if var.calibration is cset and var.nominal_variables:
                variables = nominal_vars
            else:
                variables = reconstruct_event(var.arrays(arrays), var.calibration, tracks=tracks)
            masks = cut_masks(var.cutset, variables, period)
            hidden = protected.copy()
            if not self.unblind:
                hidden |= blind_mask(var.cutset, masks)
            passed = ~hidden
            flow = out["cutflow"][var.label].setdefault(period, {})
            flow["all"] = flow.get("all", 0) + int(passed.sum())
            for name, mask in masks.items():
                passed &= mask
                flow[name] = flow.get(name, 0) + int(passed.sum())
            region = set() if self.unblind else set(var.cutset.signal_box)
            side = ~hidden
            for name, mask in masks.items():
                if name not in region:
                    side &= mask
            ecal, hcal = variables["ecal_e"][side], variables["hcal_e"][side]
            out["ecal_sideband"].fill(syst=var.label, period=period, ecal_e=ecal)
            if side.any():
                rows = out["sideband"][var.label].setdefault(period, [])
                rows.append(np.stack([ecal.astype(float), hcal.astype(float)], axis=1))

    @staticmethod
    def _skim(output: dict, filename: str, entries: np.ndarray) -> None:
        if len(entries):
            output["skim"].setdefault(filename, []).append(np.asarray(entries, dtype=np.int64))

    def postprocess(self, accumulator):
        return accumulator


__all__ = [
    "NMINUS1_BINNING",
    "SelectionProcessor",
    "region_variables",
    "same_constants",
    "screen_chunk",
]
