"""Derive a :class:`CalibrationSet` from calibration data: pedestals, gains, t0, flags.

Contract: ``derive_calibration(CalibrationInputs) -> CalibrationSet`` is a pure function of
in-memory arrays (the writer-style dicts of ``EventFile.arrays()`` / ``sim.run.generate_run``);
``calibrate_fileset(path)`` reads a fileset manifest, groups its files per period and calls it.
Nothing here returns a default value for a constant it could not measure: such a channel is
flagged (status dead = not usable), named in the log and in ``provenance["report"]``.

Method per constant (the numbers in the module constants below):

* **Pedestal, noise** (random triggers, trigger bit 4): a first pass (median, MAD) tags *busy*
  events, those with any channel > 6 sigma above its median (pile-up in the read-out window);
  on the quiet events pedestal = mean and noise = RMS after 4-sigma clipping. A channel that
  reads exactly 0 in every event is *absent*; a channel whose noise exceeds 3x the median noise
  of its detector type (ECAL PS, ECAL main, HCAL, SRD, VETO, counters) is *noisy*.
* **t0** (calibration events): pulse times of channels with a signal above 10 noise sigma; the
  in-time peak by an iterated median within +- 3 widths of the histogram mode.
* **Pile-up tag** (per calibration event): any ECAL/HCAL/S-counter pulse > 20 sigma that is out
  of time (|t - t0| > max(4 widths, 6 ns)). Tagged events are not used for gains.
* **Saturation** (scan events): an event with any ECAL channel at its ADC's full scale
  (``conditions.response.saturation_adc``) measured only a lower bound of that channel's
  energy and is not used for the gains or the shower profile.
* **ECAL gains** (ecal-scan runs, trigger bit 8): linear least squares
  ``sum_c k_c (a_ic - ped_c) = E_beam * C(cell_i)`` over both sections and all scan events, with
  the beam energy of the file metadata and C the expected fraction of the shower energy in the
  usable, instrumented cells for a beam aimed at cell_i (the cell with the largest main-section
  signal), computed from the detector simulation's shower model and the period's beam spot
  (the MC containment correction of a real calibration: ~0.96 for central cells, ~0.90 at the
  matrix edges and next to the absent column). Four passes reject events whose fitted energy is
  more than 4 robust sigmas off (pile-up, showers aimed at a dead cell). A channel with no
  signal above 20 noise sigma in any scan event is dead.
* **HCAL gains** (muon runs): per cell an unbinned Moyal fit (iminuit) of the MIP peak;
  gain = reference / MPV, the reference being the MPV the same fit finds on the model spectrum
  of the simulation's response (``calib.gains.hcal_reference_mpv_gev``: the scintillator
  Landau of ``conditions.hcal_sampling`` with photo-statistics). Cells without MIP entries
  are flagged (dead, or not crossed by muons: HCAL3 at zero degrees from 2021).
* **VETO, counters** (muon runs; V1 from halo hits of the scan electrons): Moyal MPV per PMT /
  counter. The reference is the MPV the same fit finds on the model spectrum of the simulation's
  response (``RESPONSE.veto_mip_gev`` x Moyal x light-sharing for the VETO, exactly
  ``RESPONSE.counter_mip_gev`` for the counters). Counter thresholds: ``counter_min_mip`` MIP.
* **SRD gains** (ecal-scan electrons that pass the ECAL fit and carry no pile-up tag): the
  ratio of the 30-70% quantiles of each module's amplitude to those of the SR model spectrum
  (``na64reco.sim.srd`` at the metadata beam energy and the period's momentum spread, 2e5
  electrons, fixed seed), i.e. a quantile match to the model, not to the true constants.
* **MM t0** per station: in-time peak of the hit times (as for t0 above). **Straw window** per
  station: least-squares fit of the hit-time histogram by a Gaussian-smeared box plus a spike at
  the maximal drift time over a flat background; window = [box start, box end].
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from na64reco import __version__
from na64reco.calib.gains import (
    derive_ecal_gains,
    derive_mip_gains,
    derive_srd_gains,
    hcal_reference_mpv_gev,
    srd_reference_quantiles,
    veto_reference_mpv_gev,
)
from na64reco.calib.parameters import SRD_TRIM
from na64reco.calib.pedestals import derive_pedestals
from na64reco.calib.streams import (
    CalibrationInputs,
    Report,
    channel_name,
    concatenate_arrays,
    load_calibration_inputs,
    select_events,
)
from na64reco.calib.timing import derive_t0, derive_tracker_times, pileup_tag
from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    STATUS_ABSENT,
    STATUS_DEAD,
    STATUS_NOISY,
    CalibrationError,
    CalibrationSet,
    DetectorConstants,
)
from na64reco.conditions import RESPONSE, get_period
from na64reco.eventtree import contract
from na64reco.fileset import Fileset, as_fileset
from na64reco.reco.calorimeters import reconstruct_calorimeters
from na64reco.reco.showershape import derive_shower_profile

# --- the whole set ------------------------------------------------------------------------------


def derive_calibration(
    inputs: CalibrationInputs,
    name: str | None = None,
    version: int = 1,
    run_min: int | None = None,
    run_max: int | None = None,
) -> CalibrationSet:
    """Every constant of one period from its calibration streams (see the module docstring)."""
    period = get_period(inputs.period)
    where = f"{inputs.origin}: " if inputs.origin else ""
    if inputs.random is None or len(inputs.random["trigger"]) == 0:
        raise CalibrationError(
            f"{where}period {period.name}: no random-trigger events (trigger bit 4): "
            "pedestals cannot be derived"
        )
    if inputs.scan is None or len(inputs.scan["trigger"]) == 0:
        raise CalibrationError(f"{where}period {period.name}: no ecal-scan events (trigger bit 8)")
    if inputs.muon is None or len(inputs.muon["trigger"]) == 0:
        raise CalibrationError(f"{where}period {period.name}: no muon-run events (trigger bit 8)")
    report = Report()
    peds = derive_pedestals(inputs.random, report)
    n_quiet = peds.pop("_quiet_events")
    calib_events = concatenate_arrays([inputs.scan, inputs.muon])
    t0s, widths, _ = derive_t0(calib_events, peds, report)
    saturated_scan = _saturated(inputs.scan)
    keep_scan = ~pileup_tag(inputs.scan, peds, t0s, widths) & ~saturated_scan
    keep_muon = ~pileup_tag(inputs.muon, peds, t0s, widths)
    status = {det: peds[det]["status"].copy() for det in CALORIMETER_DETECTORS}
    gains: dict[str, np.ndarray] = {}

    gains["ecal"], status["ecal"], ecal_info = derive_ecal_gains(
        inputs.scan, peds, status["ecal"], period.name, inputs.beam_energy_gev, keep_scan, report
    )
    inliers = ecal_info.pop("_inliers", keep_scan)
    rel_error = {
        "ecal": ecal_info.pop("_rel_error", np.zeros(contract.ECAL_SHAPE)),
        **{d: np.zeros(contract.DETECTOR_SHAPES[d]) for d in ("hcal", "veto", "srd")},
    }
    muon = select_events(inputs.muon, keep_muon)
    in_line = period.geometry.hcal_modules_in_line

    def hcal_why(idx):
        if idx[0] >= in_line:
            return f": HCAL{idx[0]} is not crossed by muons in {period.name} (not in line)"
        return ": no MIP signal where muons cross (dead)"

    gains["hcal"], status["hcal"] = derive_mip_gains(
        muon,
        "hcal",
        peds,
        status["hcal"],
        hcal_reference_mpv_gev(),
        report,
        why_empty=hcal_why,
        rel_error=rel_error["hcal"],
    )
    gains["veto"], status["veto"] = derive_mip_gains(
        muon,
        "veto",
        peds,
        status["veto"],
        veto_reference_mpv_gev(),
        report,
        rel_error=rel_error["veto"],
    )
    counter_events = concatenate_arrays([muon, select_events(inputs.scan, keep_scan)])
    gains["counter"], status["counter"] = derive_mip_gains(
        counter_events, "counter", peds, status["counter"], RESPONSE.counter_mip_gev, report
    )
    ref_q = srd_reference_quantiles(inputs.beam_energy_gev, period.beam_momentum_spread)
    gains["srd"], status["srd"] = derive_srd_gains(
        inputs.scan, peds, status["srd"], ref_q, inliers & keep_scan, report, rel_error["srd"]
    )

    dets = {}
    for det in CALORIMETER_DETECTORS:
        t0 = t0s[det].copy()
        st = status[det]
        missing = np.isnan(t0) & (st != STATUS_ABSENT) & (st != STATUS_DEAD)
        for idx in zip(*np.nonzero(missing), strict=True):
            st[idx] = STATUS_DEAD
            gains[det][idx] = 0.0
            report.add(det, channel_name(det, idx), "t0", "too few pulses", "flagged dead")
        t0 = np.where(np.isnan(t0) | (st == STATUS_DEAD) | (st == STATUS_ABSENT), 0.0, t0)
        ped = peds[det]["pedestal"]
        dets[det] = DetectorConstants(
            pedestal=ped,
            gain=np.where(st == STATUS_ABSENT, 0.0, gains[det]),
            noise=peds[det]["noise"],
            t0=t0,
            status=st.astype(np.int8),
        )
    mm_t0, straw_window = derive_tracker_times(calib_events, period.name, report)
    counter_gain = dets["counter"].gain
    with np.errstate(divide="ignore"):
        mip_adc = np.where(counter_gain > 0, RESPONSE.counter_mip_gev / counter_gain, 0.0)
    threshold = period.trigger.counter_min_mip * mip_adc

    n_flag = {
        det: {
            "dead": int((dets[det].status == STATUS_DEAD).sum()),
            "noisy": int((dets[det].status == STATUS_NOISY).sum()),
            "absent": int((dets[det].status == STATUS_ABSENT).sum()),
        }
        for det in CALORIMETER_DETECTORS
    }
    provenance = {
        "recipe": "na64reco.calib.derive.derive_calibration",
        "toolkit_version": __version__,
        "origin": inputs.origin,
        "inputs": inputs.sources,
        "beam_energy_gev": inputs.beam_energy_gev,
        "events": {
            "random": len(inputs.random["trigger"]),
            "random_quiet": n_quiet,
            "ecal_scan": len(inputs.scan["trigger"]),
            "muon": len(inputs.muon["trigger"]),
            "scan_saturated": int(saturated_scan.sum()),
            "scan_pileup_tagged": int((~keep_scan & ~saturated_scan).sum()),
            "muon_pileup_tagged": int((~keep_muon).sum()),
        },
        "ecal_fit": ecal_info,
        "reference": {
            "hcal_mip_gev": hcal_reference_mpv_gev(),
            "veto_mpv_gev": veto_reference_mpv_gev(),
            "counter_mip_gev": RESPONSE.counter_mip_gev,
            "srd_trim_quantiles": list(SRD_TRIM),
            "srd_reference_gev": np.round(ref_q, 8).tolist(),
        },
        "flags": n_flag,
        "report": report.items,
        "shower_profile": "not derived",
    }
    cset = CalibrationSet(
        name=name or f"na64-{period.name}",
        version=int(version),
        description=f"derived from calibration runs of period {period.name}",
        period=period.name,
        run_min=period.first_run if run_min is None else int(run_min),
        run_max=period.last_run if run_max is None else int(run_max),
        mm_t0=mm_t0,
        straw_window_ns=straw_window,
        counter_threshold_adc=threshold,
        shower_profile=None,
        provenance=provenance,
        gain_syst=gain_syst_factors(rel_error, dets),
        **dets,
    )
    scan_clean = select_events(inputs.scan, inliers & keep_scan)
    return replace(cset, shower_profile=derive_profile(scan_clean, cset, report))


def gain_syst_factors(rel_error: dict, dets: dict) -> dict:
    """The ``syst`` axis of the gains: factors 1 +- the relative statistical uncertainty of
    each channel's gain from the calibration runs (1 on dead and absent channels, whose gain
    is not used). A variation applies them to every channel at once (fully correlated: the
    conservative choice for a detector's energy scale)."""
    out = {}
    for det, rel in rel_error.items():
        r = np.where(dets[det].usable, np.clip(rel, 0.0, 0.5), 0.0)
        out[det] = {"up": 1.0 + r, "down": 1.0 - r}
    return out


def _saturated(events: dict) -> np.ndarray:
    """Events with an ECAL channel at its ADC's full scale."""
    from na64reco.conditions.response import saturation_adc
    from na64reco.reco.calorimeters import SATURATION_TOLERANCE_ADC

    amp = np.asarray(events["ecal_amp"])
    level = saturation_adc("ecal") - SATURATION_TOLERANCE_ADC
    return (amp >= level).reshape(len(amp), -1).any(axis=1)


def derive_profile(scan: dict, cset: CalibrationSet, report: Report):
    """The reference EM-shower profile from calibrated scan electrons, via the reconstruction's
    ``na64reco.reco.showershape.derive_shower_profile`` (None, reported, if it cannot be made)."""
    try:
        reco = reconstruct_calorimeters(scan, cset)
        profile = derive_shower_profile(
            reco["ecal_cell_e"],
            reco["hit_ix"],
            reco["hit_iy"],
            reco["cog_x"],
            reco["cog_y"],
            get_period(cset.period).geometry.ecal_cell_pitch_cm,
            usable_cells=cset.ecal.usable.any(axis=0),
        )
    except CalibrationError as exc:
        report.add("ecal", "all", "shower_profile", str(exc), "not derived")
        return None
    cset.provenance["shower_profile"] = (
        f"derive_shower_profile on {len(scan['trigger'])} calibrated scan electrons"
    )
    return profile


def calibrate_fileset(
    fileset: Fileset | str | Path, name: str | None = None, version: int = 1
) -> list[CalibrationSet]:
    """One CalibrationSet per period of the fileset (a Fileset or a manifest path; periods in
    run order)."""
    fileset = as_fileset(fileset)
    inputs = load_calibration_inputs(fileset)
    if not inputs:
        raise CalibrationError(
            f"fileset {fileset.source or fileset.name}: no calibration or random-trigger files"
        )
    sets = []
    for period in sorted(inputs, key=lambda p: get_period(p).first_run):
        set_name = f"{name}-{period}" if name else None
        sets.append(derive_calibration(inputs[period], name=set_name, version=version))
    return sets
