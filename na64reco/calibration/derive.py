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
  gain = ``RESPONSE.hcal_mip_per_module_gev`` / MPV (the simulated muon loss is a Moyal with that
  MPV). Cells without MIP entries are flagged (dead, or not crossed by muons: HCAL3 at zero
  degrees from 2021).
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

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import awkward as ak
import numpy as np

from na64reco import __version__
from na64reco.calibration import estimators as est
from na64reco.calibration.constants import (
    CALORIMETER_DETECTORS,
    STATUS_ABSENT,
    STATUS_DEAD,
    STATUS_GOOD,
    STATUS_NOISY,
    CalibrationError,
    CalibrationSet,
    DetectorConstants,
)
from na64reco.conditions import RESPONSE, get_period
from na64reco.conditions.response import ELECTRONICS
from na64reco.eventtree import contract

logger = logging.getLogger(__name__)

SHAPES = {
    "ecal": contract.ECAL_SHAPE,
    "hcal": contract.HCAL_SHAPE,
    "srd": contract.SRD_SHAPE,
    "veto": contract.VETO_SHAPE,
    "counter": contract.COUNTER_SHAPE,
}
COUNTER_NAMES = ("S0", "S1", "S2", "V1")
BUSY_SIGMAS = 6.0  # random trigger with any channel above this is not used for pedestals
NOISY_FACTOR = 3.0  # noise above 3x the detector type's median noise: noisy
PULSE_SIGMAS = 10.0  # signal used for t0
SIGNAL_SIGMAS = 8.0  # MIP candidates (HCAL, VETO, counters)
DEAD_SIGMAS = 20.0  # an ECAL channel that never exceeds this in a cell scan is dead
PILEUP_SIGMAS = 20.0
MIN_PEDESTAL_EVENTS = 20
MIN_ENTRIES = 30  # per channel and peak fit (MIP peaks, t0)
MIN_SCAN_ENTRIES = 10  # ECAL: scan events with a signal in the channel (least-squares fit)
OUTLIER_SIGMAS = 4.0
CONTAINMENT_SAMPLES = 4000
# SRD gains: the trimmed mean (between these quantiles) of each module's signal in scan
# electrons over the same trimmed mean of the SR model: 0.7%/sqrt(N/1e4) statistical, and the
# trimming keeps the upper tail of merged pile-up pulses out.
SRD_TRIM = (0.05, 0.95)
MODEL_SEED = 20240917  # fixed seed of the model spectra (reference values)


def channel_name(detector: str, index: tuple[int, ...] | int) -> str:
    """Human-readable name of a channel, e.g. ``ECAL main[2][3]``, ``HCAL1[0][2]``, ``V1``."""
    idx = np.unravel_index(index, SHAPES[detector]) if np.ndim(index) == 0 else tuple(index)
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


def _f64(arrays: dict, key: str) -> np.ndarray:
    return np.asarray(arrays[key], dtype=np.float64)


def _select(arrays: dict, mask: np.ndarray) -> dict:
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


def _type_groups(detector: str) -> list[tuple]:
    """Index slices of the channels sharing one electronics type (ECAL: per section)."""
    return [(0,), (1,)] if detector == "ecal" else [()]


# --- pedestals ----------------------------------------------------------------------------------


def derive_pedestals(random: dict, report: Report) -> dict[str, dict[str, np.ndarray]]:
    """Pedestal, noise and status (good/noisy/absent) of every calorimeter-type channel."""
    amps = {det: _f64(random, f"{det}_amp") for det in CALORIMETER_DETECTORS}
    n = len(random["trigger"])
    busy = np.zeros(n, dtype=bool)
    first = {}
    for det, a in amps.items():
        med = np.median(a, axis=0)
        mad = est.MAD_TO_SIGMA * np.median(np.abs(a - med), axis=0)
        absent = np.all(a == 0, axis=0)
        first[det] = (med, mad, absent)
        sig = (a - med) / np.maximum(mad, 0.125)
        busy |= np.any((sig > BUSY_SIGMAS) & ~absent, axis=tuple(range(1, a.ndim)))
    quiet = ~busy
    if quiet.sum() < MIN_PEDESTAL_EVENTS:
        raise CalibrationError(
            f"only {int(quiet.sum())} of {n} random triggers are free of pile-up "
            f"(need {MIN_PEDESTAL_EVENTS}) for the pedestals"
        )
    logger.info("pedestals from %d quiet of %d random triggers", int(quiet.sum()), n)
    out = {}
    for det, a in amps.items():
        shape = SHAPES[det]
        ped = np.zeros(shape)
        noise = np.zeros(shape)
        status = np.full(shape, STATUS_GOOD, dtype=np.int8)
        absent = first[det][2]
        aq = a[quiet]
        for idx in np.ndindex(shape):
            if absent[idx]:
                status[idx] = STATUS_ABSENT
                continue
            ped[idx], noise[idx], _ = est.clipped_mean_rms(aq[(slice(None), *idx)])
        for group in _type_groups(det):
            sub_noise = noise[group]
            live = status[group] != STATUS_ABSENT
            if not live.any():
                continue
            typical = float(np.median(sub_noise[live]))
            noisy = live & (sub_noise > NOISY_FACTOR * typical)
            for sub in zip(*np.nonzero(noisy), strict=True):
                full = (*group, *sub)
                status[full] = STATUS_NOISY
                report.add(
                    det,
                    channel_name(det, full),
                    "noise",
                    f"noise {noise[full]:.2f} ADC > {NOISY_FACTOR:g} x typical {typical:.2f} ADC",
                    "flagged noisy",
                )
        out[det] = {"pedestal": ped, "noise": noise, "status": status}
    out["_quiet_events"] = int(quiet.sum())  # type: ignore[assignment]
    return out


# --- timing -------------------------------------------------------------------------------------


def _time_sigma(det: str, idx: tuple) -> float:
    key = ("ecal_ps" if idx[0] == 0 else "ecal_main") if det == "ecal" else det
    return ELECTRONICS[key].time_sigma_ns


def derive_t0(
    events: dict, peds: dict, report: Report
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """t0 and in-time width per channel (NaN where not measurable) and the pulse counts."""
    t0s, widths, counts = {}, {}, {}
    for det in CALORIMETER_DETECTORS:
        shape = SHAPES[det]
        p = peds[det]
        a = _f64(events, f"{det}_amp") - p["pedestal"]
        t = _f64(events, f"{det}_t")
        pulse = a > PULSE_SIGMAS * np.maximum(p["noise"], 0.125)
        t0 = np.full(shape, np.nan)
        width = np.full(shape, np.nan)
        cnt = pulse.sum(axis=0)
        for idx in np.ndindex(shape):
            if p["status"][idx] == STATUS_ABSENT or cnt[idx] < MIN_SCAN_ENTRIES:
                continue
            res = est.peak_centre(t[(slice(None), *idx)][pulse[(slice(None), *idx)]], 2.0)
            if res is None:
                report.add(det, channel_name(det, idx), "t0", "in-time peak not found", "no t0")
                continue
            t0[idx], width[idx], _ = res
        t0s[det], widths[det], counts[det] = t0, width, cnt
    return t0s, widths, counts


def pileup_tag(events: dict, peds: dict, t0s: dict, widths: dict) -> np.ndarray:
    """Events with a large out-of-time pulse in the ECAL, HCAL or S counters."""
    n = len(events["trigger"])
    tag = np.zeros(n, dtype=bool)
    for det in ("ecal", "hcal", "counter"):
        p = peds[det]
        a = _f64(events, f"{det}_amp") - p["pedestal"]
        t = _f64(events, f"{det}_t")
        big = a > PILEUP_SIGMAS * np.maximum(p["noise"], 0.125)
        known = np.isfinite(t0s[det]) & (p["status"] != STATUS_ABSENT)
        if det == "counter":
            known[3] = False  # V1 fires on halo in time or not: not a pile-up tag
        cut = np.maximum(4 * np.nan_to_num(widths[det], nan=1.0), 6.0)
        late = np.abs(t - np.nan_to_num(t0s[det])) > cut
        tag |= np.any(big & late & known, axis=tuple(range(1, a.ndim)))
    return tag


# --- ECAL ---------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _containment_cached(period: str, usable_key: bytes, beam_energy_gev: float) -> np.ndarray:
    from na64reco.sim import beamline, showers

    p = get_period(period)
    g, r = p.geometry, RESPONSE
    usable = np.frombuffer(usable_key, dtype=bool).reshape(contract.ECAL_SHAPE)
    rng = np.random.default_rng(MODEL_SEED)
    cells = [(ix, iy) for ix in range(g.ecal_nx) for iy in range(contract.ECAL_SHAPE[2])]
    cx, cy = beamline.cell_centre_cm(g, *np.array(cells).T)
    m = CONTAINMENT_SAMPLES
    jitter = np.hypot(p.beam_spot_sigma_cm, showers.SHOWER_POSITION_JITTER_CM)
    x = np.repeat(cx, m) + jitter * rng.standard_normal(len(cells) * m)
    y = np.repeat(cy, m) + jitter * rng.standard_normal(len(cells) * m)
    energy = np.full(len(x), beam_energy_gev)
    f_ps, f_leak = showers.em_longitudinal(rng, energy, np.zeros(len(x)), r)
    nx, ny, pitch = contract.ECAL_SHAPE[1], contract.ECAL_SHAPE[2], g.ecal_cell_pitch_cm
    lat_ps = showers.cell_fractions(
        x, y, nx, ny, pitch, r.ecal_core_fraction, r.ecal_ps_core_width_cm, r.ecal_halo_width_cm
    )
    lat_main = showers.cell_fractions(
        x, y, nx, ny, pitch, r.ecal_core_fraction, r.ecal_core_width_cm, r.ecal_halo_width_cm
    )
    seen = f_ps * (lat_ps * usable[0]).sum(axis=(1, 2)) + (1 - f_ps - f_leak) * (
        lat_main * usable[1]
    ).sum(axis=(1, 2))
    out = np.full(contract.ECAL_SHAPE[1:], np.nan)
    means = seen.reshape(len(cells), m).mean(axis=1)
    for (ix, iy), v in zip(cells, means, strict=True):
        out[ix, iy] = v
    return out


def ecal_containment(period: str, usable: np.ndarray, beam_energy_gev: float) -> np.ndarray:
    """Expected fraction of a beam shower's energy seen in the ``usable`` channels, per aimed
    cell (6, 6) (NaN for cells not instrumented): from the simulation's shower model."""
    key = np.ascontiguousarray(usable, dtype=bool).tobytes()
    return _containment_cached(str(period), key, float(beam_energy_gev))


def derive_ecal_gains(
    scan: dict,
    peds: dict,
    status: np.ndarray,
    period: str,
    beam_energy_gev: float,
    keep: np.ndarray,
    report: Report,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """ECAL gains [GeV/ADC] (0 where flagged), updated status, and fit information."""
    p = peds["ecal"]
    a = _f64(scan, "ecal_amp") - p["pedestal"]
    status = status.copy()
    instrumented = status != STATUS_ABSENT
    sig = a / np.maximum(p["noise"], 0.125)
    n_sig = (sig > DEAD_SIGMAS).sum(axis=0)
    for idx in zip(*np.nonzero(instrumented & (n_sig < MIN_SCAN_ENTRIES)), strict=True):
        if n_sig[idx] == 0:
            problem = f"no signal above {DEAD_SIGMAS:g} sigma in {len(a)} scan events"
        else:
            problem = f"only {n_sig[idx]} scan events with signal (need {MIN_SCAN_ENTRIES})"
        status[idx] = STATUS_DEAD
        report.add("ecal", channel_name("ecal", idx), "gain", problem, "flagged dead")
    usable = (status != STATUS_DEAD) & (status != STATUS_ABSENT)
    main = np.where(usable[1], a[:, 1], -np.inf).reshape(len(a), -1)
    aimed = np.argmax(main, axis=1)
    containment = ecal_containment(period, usable, beam_energy_gev).reshape(-1)
    target = beam_energy_gev * containment[aimed]
    cols = usable.reshape(-1)
    A = a.reshape(len(a), -1)[:, cols]
    sel = keep & np.isfinite(target)
    gain = np.zeros(contract.ECAL_SHAPE)
    info: dict = {"events": len(a), "pileup_tagged": int((~keep).sum())}
    if sel.sum() < cols.sum():
        report.add("ecal", "all", "gain", f"only {int(sel.sum())} usable scan events", "no gains")
        status[usable] = STATUS_DEAD
        return gain, status, info
    k = np.zeros(int(cols.sum()))
    for _ in range(4):
        k, *_ = np.linalg.lstsq(A[sel], target[sel], rcond=None)
        r = A @ k / np.where(np.isfinite(target), target, 1.0) - 1.0
        centre = float(np.median(r[sel]))
        spread = est.MAD_TO_SIGMA * float(np.median(np.abs(r[sel] - centre)))
        sel = keep & np.isfinite(target) & (np.abs(r - centre) < OUTLIER_SIGMAS * spread)
    k_full = np.zeros(cols.size)
    k_full[cols] = k
    gain = k_full.reshape(contract.ECAL_SHAPE)
    entries = ((sig > DEAD_SIGMAS) & sel[:, None, None, None]).sum(axis=0)
    for idx in zip(*np.nonzero(usable), strict=True):
        bad = None
        if not (np.isfinite(gain[idx]) and gain[idx] > 0):
            bad = f"least-squares gain {gain[idx]:.3g} is not positive"
        elif entries[idx] < MIN_SCAN_ENTRIES:
            bad = f"only {entries[idx]} fitted events with signal (need {MIN_SCAN_ENTRIES})"
        if bad:
            status[idx] = STATUS_DEAD
            gain[idx] = 0.0
            report.add("ecal", channel_name("ecal", idx), "gain", bad, "flagged dead")
    info.update(
        fitted_events=int(sel.sum()),
        relative_resolution=float(spread),
        containment_min=float(np.nanmin(containment)),
        containment_max=float(np.nanmax(containment)),
    )
    return gain, status, {**info, "_inliers": sel}


# --- MIP peaks ----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def veto_reference_mpv_gev(n: int = 200_000) -> float:
    """MPV of one VETO PMT's MIP spectrum in the simulation's response model (fitted the same
    way as the data): ``veto_mip_gev`` x Moyal(1, 0.1) x light sharing."""
    from na64reco.sim.deposits import Deposits
    from na64reco.sim.showers import add_veto_mips

    rng = np.random.default_rng(MODEL_SEED)
    layer = Deposits.zeros(n)
    add_veto_mips(rng, layer, np.arange(n), np.zeros(n), np.ones(n), RESPONSE)
    res = est.fit_moyal_mpv(layer.veto[:, 2])
    assert res is not None
    return res["mpv"]


def _mip_fit_channel(
    det: str, idx: tuple, values: np.ndarray, reference_gev: float, report: Report, why_empty: str
) -> float | None:
    """Gain [GeV/ADC] of one channel from its MIP peak, or None (reported)."""
    name = channel_name(det, idx)
    if len(values) < MIN_ENTRIES:
        report.add(
            det,
            name,
            "gain",
            f"only {len(values)} MIP entries (need {MIN_ENTRIES}){why_empty}",
            "flagged dead",
        )
        return None
    res = est.fit_moyal_mpv(values, MIN_ENTRIES)
    if res is None or not res["mpv"] > 0:
        report.add(det, name, "gain", "Moyal fit of the MIP peak failed", "flagged dead")
        return None
    return reference_gev / res["mpv"]


def derive_mip_gains(
    events: dict,
    det: str,
    peds: dict,
    status: np.ndarray,
    reference_gev: float,
    report: Report,
    channels: list[tuple] | None = None,
    why_empty=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gains of ``det`` from the MIP peak of each channel (channels: those to fit)."""
    p = peds[det]
    a = _f64(events, f"{det}_amp") - p["pedestal"]
    gain = np.zeros(SHAPES[det])
    status = status.copy()
    for idx in channels if channels is not None else list(np.ndindex(SHAPES[det])):
        if status[idx] in (STATUS_ABSENT, STATUS_DEAD):
            continue
        v = a[(slice(None), *idx)]
        v = v[v > SIGNAL_SIGMAS * max(p["noise"][idx], 0.125)]
        g = _mip_fit_channel(
            det, idx, v, reference_gev, report, why_empty(idx) if why_empty else ""
        )
        if g is None:
            status[idx] = STATUS_DEAD
        else:
            gain[idx] = g
    return gain, status


# --- SRD ----------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def srd_reference_quantiles(
    beam_energy_gev: float, momentum_spread: float, n: int = 200_000
) -> np.ndarray:
    """Trimmed means (``SRD_TRIM``) of each module's SR energy [GeV] in the simulation's SR model
    (na64reco.sim.srd) for beam electrons of the given energy and relative spread: (3,)."""
    from na64reco.sim.deposits import Deposits
    from na64reco.sim.srd import add_synchrotron_radiation

    rng = np.random.default_rng(MODEL_SEED)
    layer = Deposits.zeros(n)
    energy = beam_energy_gev * (1 + momentum_spread * rng.standard_normal(n))
    add_synchrotron_radiation(rng, layer, np.arange(n), energy, RESPONSE)
    return np.array([_trimmed_mean(layer.srd[:, i]) for i in range(layer.srd.shape[1])])


def _trimmed_mean(x: np.ndarray) -> float:
    lo, hi = np.quantile(x, SRD_TRIM)
    return float(np.mean(x[(x >= lo) & (x <= hi)]))


def derive_srd_gains(
    scan: dict,
    peds: dict,
    status: np.ndarray,
    ref_q: np.ndarray,
    keep: np.ndarray,
    report: Report,
) -> tuple[np.ndarray, np.ndarray]:
    p = peds["srd"]
    a = (_f64(scan, "srd_amp") - p["pedestal"])[keep]
    gain = np.zeros(contract.SRD_SHAPE)
    status = status.copy()
    for i in range(contract.SRD_SHAPE[0]):
        if status[i] in (STATUS_ABSENT, STATUS_DEAD):
            continue
        name = channel_name("srd", (i,))
        if len(a) < MIN_ENTRIES:
            report.add("srd", name, "gain", f"only {len(a)} scan electrons", "flagged dead")
            status[i] = STATUS_DEAD
            continue
        q = _trimmed_mean(a[:, i])
        ratio = q / ref_q[i]  # ADC per GeV
        if not ratio > 0 or q < 5 * max(p["noise"][i], 0.125):
            report.add("srd", name, "gain", "no SR signal in scan electrons", "flagged dead")
            status[i] = STATUS_DEAD
            continue
        gain[i] = 1.0 / float(ratio)
    return gain, status


# --- trackers -----------------------------------------------------------------------------------


def derive_tracker_times(
    events: dict, period: str, report: Report
) -> tuple[np.ndarray, np.ndarray]:
    """MM t0 per station and the straw in-time window per station."""
    g = get_period(period).geometry
    mm_t0 = np.full(len(g.mm_stations), np.nan)
    window = np.full((len(g.straw_stations), 2), np.nan)
    mm = events.get("mm")
    st = events.get("st")
    if mm is not None:
        station = ak.to_numpy(ak.flatten(mm.station))
        t = ak.to_numpy(ak.flatten(mm.t)).astype(float)
        for i, s in enumerate(g.mm_stations):
            res = est.peak_centre(t[station == i], s.time_sigma_ns)
            if res is None or res[2] < MIN_ENTRIES:
                report.add("mm", s.name, "t0", "too few in-time hits", "no t0")
            else:
                mm_t0[i] = res[0]
    if st is not None:
        station = ak.to_numpy(ak.flatten(st.station))
        t = ak.to_numpy(ak.flatten(st.t)).astype(float)
        for i, s in enumerate(g.straw_stations):
            res = est.fit_drift_window(t[station == i], s.time_sigma_ns)
            if res is None:
                report.add("straw", s.name, "window", "drift-time fit failed", "no window")
            else:
                window[i] = (res["lo"], res["hi"])
    return mm_t0, window


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
    keep_scan = ~pileup_tag(inputs.scan, peds, t0s, widths)
    keep_muon = ~pileup_tag(inputs.muon, peds, t0s, widths)
    status = {det: peds[det]["status"].copy() for det in CALORIMETER_DETECTORS}
    gains: dict[str, np.ndarray] = {}

    gains["ecal"], status["ecal"], ecal_info = derive_ecal_gains(
        inputs.scan, peds, status["ecal"], period.name, inputs.beam_energy_gev, keep_scan, report
    )
    inliers = ecal_info.pop("_inliers", keep_scan)
    muon = _select(inputs.muon, keep_muon)
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
        RESPONSE.hcal_mip_per_module_gev,
        report,
        why_empty=hcal_why,
    )
    gains["veto"], status["veto"] = derive_mip_gains(
        muon, "veto", peds, status["veto"], veto_reference_mpv_gev(), report
    )
    counter_events = concatenate_arrays([muon, _select(inputs.scan, keep_scan)])
    gains["counter"], status["counter"] = derive_mip_gains(
        counter_events, "counter", peds, status["counter"], RESPONSE.counter_mip_gev, report
    )
    ref_q = srd_reference_quantiles(inputs.beam_energy_gev, period.beam_momentum_spread)
    gains["srd"], status["srd"] = derive_srd_gains(
        inputs.scan, peds, status["srd"], ref_q, inliers & keep_scan, report
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
        "recipe": "na64reco.calibration.derive.derive_calibration",
        "toolkit_version": __version__,
        "origin": inputs.origin,
        "inputs": inputs.sources,
        "beam_energy_gev": inputs.beam_energy_gev,
        "events": {
            "random": len(inputs.random["trigger"]),
            "random_quiet": n_quiet,
            "ecal_scan": len(inputs.scan["trigger"]),
            "muon": len(inputs.muon["trigger"]),
            "scan_pileup_tagged": int((~keep_scan).sum()),
            "muon_pileup_tagged": int((~keep_muon).sum()),
        },
        "ecal_fit": ecal_info,
        "reference": {
            "hcal_mip_gev": RESPONSE.hcal_mip_per_module_gev,
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
        **dets,
    )
    scan_clean = _select(inputs.scan, inliers & keep_scan)
    return replace(cset, shower_profile=derive_profile(scan_clean, cset, report))


def derive_profile(scan: dict, cset: CalibrationSet, report: Report):
    """The reference EM-shower profile from calibrated scan electrons, via the reconstruction's
    ``na64reco.reco.showershape.derive_shower_profile`` (None, reported, if it cannot be made)."""
    try:
        from na64reco.reco.calorimeters import reconstruct_calorimeters
        from na64reco.reco.showershape import derive_shower_profile
    except ImportError as exc:  # pragma: no cover - reco not available
        report.add("ecal", "all", "shower_profile", f"reco not available: {exc}", "not derived")
        return None
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


def load_calibration_inputs(fileset_path: str | Path) -> dict[str, CalibrationInputs]:
    """Read the calibration streams of a fileset, per period.

    Random triggers: trigger bit 4 events of random and physics files; ecal-scan and muon
    events: trigger bit 8 of calibration files whose metadata (or generator record) says
    ``kind`` ``ecal-scan`` or ``muon``. Signal files are ignored.
    """
    from na64reco.eventtree import open_event_file
    from na64reco.fileset import load_fileset

    fs = load_fileset(fileset_path)
    streams: dict[str, dict[str, list]] = {}
    sources: dict[str, list] = {}
    beam: dict[str, set] = {}
    for entry in fs.files:
        if entry.kind == "signal":
            continue
        ef = open_event_file(entry.path)
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
            per["random"].append(_select(arrays, rnd))
            used["random"] = int(rnd.sum())
        if kind in ("ecal-scan", "muon"):
            cal = (trig & contract.TRIGGER_CALIBRATION) != 0
            per[kind].append(_select(arrays, cal))
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


def calibrate_fileset(
    fileset_path: str | Path, name: str | None = None, version: int = 1
) -> list[CalibrationSet]:
    """One CalibrationSet per period of the fileset (periods in run order)."""
    inputs = load_calibration_inputs(fileset_path)
    if not inputs:
        raise CalibrationError(f"fileset {fileset_path}: no calibration or random-trigger files")
    sets = []
    for period in sorted(inputs, key=lambda p: get_period(p).first_run):
        set_name = f"{name}-{period}" if name else None
        sets.append(derive_calibration(inputs[period], name=set_name, version=version))
    return sets
