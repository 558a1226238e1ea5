"""Gains: ECAL from the cell scan (containment-corrected least squares), HCAL, VETO and counters
from MIP peaks, SRD from a quantile match to the synchrotron-radiation model."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from na64reco.calib import estimators as est
from na64reco.calib.parameters import (
    CONTAINMENT_SAMPLES,
    DEAD_SIGMAS,
    MIN_ENTRIES,
    MIN_SCAN_ENTRIES,
    MODEL_SEED,
    OUTLIER_SIGMAS,
    SIGNAL_SIGMAS,
    SRD_TRIM,
)
from na64reco.calib.streams import Report, as_float64, channel_name
from na64reco.calibration.constants import (
    STATUS_ABSENT,
    STATUS_DEAD,
)
from na64reco.conditions import RESPONSE, beamline, get_period
from na64reco.eventtree import contract
from na64reco.sim import mips, showers
from na64reco.sim.deposits import Deposits
from na64reco.sim.mips import add_veto_mips
from na64reco.sim.srd import add_synchrotron_radiation

# --- ECAL ---------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _containment_cached(period: str, usable_key: bytes, beam_energy_gev: float) -> np.ndarray:

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
    a = as_float64(scan, "ecal_amp") - p["pedestal"]
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
    # a shower aimed at a cell whose main section is dead has its largest main signal in a
    # neighbour but its PS core in the aimed cell: aimed there (its containment excludes the
    # dead channel), not at the neighbour, whose containment would make the fit hand the dead
    # channel's energy to the PS channels around it
    ps_core = np.argmax(np.where(usable[0], a[:, 0], -np.inf).reshape(len(a), -1), axis=1)
    aimed = np.where(usable[1].reshape(-1)[ps_core], aimed, ps_core)
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
    # statistical uncertainty of the gains: the least-squares covariance s^2 (A^T A)^-1, s^2
    # the residual variance of the inlier events (GeV^2)
    resid = A[sel] @ k - target[sel]
    dof = max(int(sel.sum()) - k.size, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = float(resid @ resid) / dof * np.linalg.pinv(A[sel].T @ A[sel])
        rel = np.sqrt(np.clip(np.diag(cov), 0.0, None)) / np.abs(k)
    rel_full = np.zeros(cols.size)
    rel_full[cols] = np.where(np.isfinite(rel), rel, 0.0)
    rel_error = rel_full.reshape(contract.ECAL_SHAPE)
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
            rel_error[idx] = 0.0
            report.add("ecal", channel_name("ecal", idx), "gain", bad, "flagged dead")
    info.update(
        fitted_events=int(sel.sum()),
        relative_resolution=float(spread),
        containment_min=float(np.nanmin(containment)),
        containment_max=float(np.nanmax(containment)),
    )
    return gain, status, {**info, "_inliers": sel, "_rel_error": rel_error}


# --- MIP peaks ----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def veto_reference_mpv_gev(n: int = 200_000) -> float:
    """MPV of one VETO PMT's MIP spectrum in the simulation's response model (fitted the same
    way as the data): ``veto_mip_gev`` x Moyal(1, 0.1) x light sharing."""

    rng = np.random.default_rng(MODEL_SEED)
    layer = Deposits.zeros(n)
    add_veto_mips(rng, layer, np.arange(n), np.zeros(n), np.ones(n), RESPONSE)
    res = est.fit_moyal_mpv(layer.veto[:, 2])
    assert res is not None
    return res["mpv"]


@lru_cache(maxsize=4)
def hcal_reference_mpv_gev(n: int = 200_000) -> float:
    """MPV of one HCAL module's MIP spectrum in the simulation's response model (fitted the
    same way as the data): the scintillator Landau x photo-statistics of ``mips.mip_signal``
    (a little above its Landau MPV, the photo-statistics smear a skewed peak)."""

    rng = np.random.default_rng(MODEL_SEED)
    res = est.fit_moyal_mpv(mips.mip_signal(rng, n, RESPONSE))
    assert res is not None
    return res["mpv"]


def _mip_fit_channel(
    det: str, idx: tuple, values: np.ndarray, reference_gev: float, report: Report, why_empty: str
) -> tuple[float, float] | None:
    """Gain [GeV/ADC] of one channel from its MIP peak and its relative statistical
    uncertainty (that of the fitted MPV), or None (reported)."""
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
    return reference_gev / res["mpv"], res["mpv_error"] / res["mpv"]


def derive_mip_gains(
    events: dict,
    det: str,
    peds: dict,
    status: np.ndarray,
    reference_gev: float,
    report: Report,
    channels: list[tuple] | None = None,
    why_empty=None,
    rel_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gains of ``det`` from the MIP peak of each channel (channels: those to fit); their
    relative statistical uncertainties are written into ``rel_error`` when given."""
    p = peds[det]
    a = as_float64(events, f"{det}_amp") - p["pedestal"]
    gain = np.zeros(contract.DETECTOR_SHAPES[det])
    status = status.copy()
    for idx in (
        channels if channels is not None else list(np.ndindex(contract.DETECTOR_SHAPES[det]))
    ):
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
            gain[idx] = g[0]
            if rel_error is not None:
                rel_error[idx] = g[1]
    return gain, status


# --- SRD ----------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def srd_reference_quantiles(
    beam_energy_gev: float, momentum_spread: float, n: int = 200_000
) -> np.ndarray:
    """Trimmed means (``SRD_TRIM``) of each module's SR energy [GeV] in the simulation's SR model
    (na64reco.sim.srd) for beam electrons of the given energy and relative spread: (3,)."""

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
    rel_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """SRD gains by matching each module's trimmed mean to the model's; ``rel_error`` gets the
    relative statistical uncertainty of each trimmed mean (its RMS / sqrt(n) / mean)."""
    p = peds["srd"]
    a = (as_float64(scan, "srd_amp") - p["pedestal"])[keep]
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
        if rel_error is not None:
            lo, hi = np.quantile(a[:, i], SRD_TRIM)
            core = a[(a[:, i] >= lo) & (a[:, i] <= hi), i]
            rel_error[i] = float(np.std(core) / np.sqrt(max(len(core), 1)) / q)
    return gain, status
