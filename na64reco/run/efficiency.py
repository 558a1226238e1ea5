"""Signal efficiency of simulated signal samples, factorised as in paper 003 Sec. IV B.

``run_signal_efficiency(fileset, cutset, options)`` runs ``SignalEfficiencyProcessor`` (one
reconstruction pass per chunk fills both the upstream and the fully selected spectra) over the
signal files of a fileset through the same validation, executor and accounting as every other
event-processing stage, and returns one row per sample: eps_up, eta_down(E_F), eps and their
errors, relative to the bosons emitted in the signal region (E_F > E0 - E_box, with E_box the
cut set's E_ECAL box edge of the sample's period and E0 the period's beam energy). The files are
validated like every run's (sha256, run range, period, values) and must be the samples their
manifest entries say (``check_samples``). Signal samples are simulation: never blinded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from na64reco.analyses import resolve_cutset
from na64reco.calibration.io import load_calibration
from na64reco.calibration.sanity import check_gains
from na64reco.conditions import get_period
from na64reco.cutsets.config import CutSet, check_periods_covered
from na64reco.errors import InputFileError
from na64reco.eventtree.reader import read_metadata
from na64reco.fileset import Fileset, as_fileset
from na64reco.processors.signal_efficiency import SignalEfficiencyProcessor
from na64reco.run.coffea_adapter import quiet_progress
from na64reco.run.engine import account, process_files, raise_if_corrupt
from na64reco.run.executors import make_executor
from na64reco.run.options import RunOptions
from na64reco.run.validation import ValueScreen, dask_mapper, validate_inputs
from na64reco.shipped import calibration_path
from na64reco.systematics.config import load_systematics

logger = logging.getLogger(__name__)

# relative systematic, quadrature sum of: dimuon data/MC yield 10% (papers 000: ~10%, 002: 15%),
# trigger efficiency 0.02/0.95 [paper 000]; the boson yield model is the limit module's business
SYST_COMPONENTS = {"dimuon_data_mc": 0.10, "trigger": 0.02 / 0.95}
SYST_REL = float(np.sqrt(sum(v**2 for v in SYST_COMPONENTS.values())))

__all__ = [
    "SYST_REL",
    "check_samples",
    "efficiencies",
    "run_signal_efficiency",
    "signal_model_of",
]


def signal_model_of(entry) -> str | None:
    """The signal model a fileset entry was generated with (None if not recorded)."""
    return (entry.generator or {}).get("signal_model")


def _signal_info(path: str) -> dict:
    meta = read_metadata(path)
    if "signal" not in meta:
        raise InputFileError(path, "metadata signal", "missing: not a signal sample")
    return meta["signal"]


def check_samples(fileset: Fileset, info: dict[str, dict], periods: dict[str, str]) -> None:
    """Each signal file is the sample its manifest entry says (model and mass of the
    ``generator`` record, when given, equal the file's metadata) and no two files are the same
    sample of one period (their efficiencies would be merged: a mass point silently lost)."""
    seen: dict[tuple, str] = {}
    for entry in fileset.files:
        if entry.path not in info:
            continue
        signal = info[entry.path]
        generator = entry.generator or {}
        for key, meta_key in (("signal_model", "model"), ("mass_gev", "mass_gev")):
            if generator.get(key) is not None and generator[key] != signal.get(meta_key):
                raise InputFileError(
                    entry.path,
                    f"na64_metadata.signal.{meta_key}",
                    f"{signal.get(meta_key)!r}, but the manifest's generator says "
                    f"{key} = {generator[key]!r}: the file is not the sample listed",
                )
        sample = (signal.get("model"), signal.get("mass_gev"), periods[entry.path])
        if sample in seen:
            raise InputFileError(
                entry.path,
                "na64_metadata.signal",
                f"the same sample ({sample[0]}, {sample[1]:g} GeV, period {sample[2]}) as "
                f"{seen[sample]}: two files of one mass point",
            )
        seen[sample] = entry.path


def run_signal_efficiency(
    fileset: Fileset | str | Path,
    cutset: str | Path | CutSet,
    options: RunOptions | None = None,
    *,
    models: Sequence[str] | None = None,
    **overrides,
) -> dict:
    """Efficiency rows of the fileset's signal samples (of ``models`` if given) under
    ``cutset``: ``{"rows": [...], "accounting": [...], "executor": {...}}``."""
    options = RunOptions.build(options, **overrides).model_copy(update={"kinds": ("signal",)})
    fileset = as_fileset(fileset)
    cutset = resolve_cutset(cutset)
    if models is not None:
        wanted = set(models)
        fileset = fileset.model_copy(
            update={"files": [e for e in fileset.files if signal_model_of(e) in wanted]}
        )
    calib_path = Path(options.calibration) if options.calibration else calibration_path()
    calibration = load_calibration(calib_path)
    check_gains(calibration, options.gain_tolerance)
    execution = options.execution
    with contextlib.ExitStack() as stack:
        exe, executor_desc = stack.enter_context(make_executor(execution))
        on_workers = execution.executor == "dask" and execution.scheduler is not None
        files, bad = validate_inputs(
            fileset,
            ("signal",),
            calibration,
            skip_bad_files=options.skip_bad_files,
            verify_checksums=options.verify_checksums,
            checksum_cache=options.checksum_cache,
            map_files=dask_mapper(exe.client) if on_workers else None,
            screen=ValueScreen(calibration) if options.skip_bad_files else None,
        )
        info = {f.path: _signal_info(f.path) for f in files}
        check_samples(fileset, info, {f.path: f.period for f in files})
        check_periods_covered(cutset, {f.period: f.path for f in files})
        systematics = (
            load_systematics(options.systematics, cutset)
            if options.systematics is not None
            else None
        )
        proc = SignalEfficiencyProcessor(cutset, calibration, info, systematics)
        with quiet_progress(execution.quiet):
            result = process_files(files, proc, exe, execution, dataset=f"{fileset.name}-signal")
    raise_if_corrupt(result.output.get("corrupt", {}))
    accounting = account(files, bad, result.planned, result.output["files"], execution.maxchunks)
    edges = {f.path: info[f.path]["e_miss_edges_gev"] for f in files}
    return {
        "rows": list(efficiencies(result.output, cutset, edges).values()),
        "accounting": accounting,
        "executor": executor_desc,
    }


def efficiencies(output: dict, cutset: CutSet, edges_of: dict[str, list]) -> dict:
    """Per sample: eps_up, eta_down(E_F), eps = eps_up x <eta_down>, stat and syst errors.

    ``edges_of``: the e_miss bin edges of each file (its metadata ``signal.e_miss_edges_gev``;
    all samples must share one binning)."""
    binnings = {tuple(e) for e in edges_of.values()}
    if len(binnings) != 1:
        raise ValueError("signal samples with different e_miss binnings cannot be combined")
    edges = np.asarray(binnings.pop(), dtype=float)
    centres = 0.5 * (edges[1:] + edges[:-1])
    rows = {}
    for key, s in sorted(output["samples"].items()):
        (period,) = sorted(s["period"])
        thr = get_period(period).beam_energy_gev - cutset.box_upper_edge("ecal_e", period)
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
                "n_upstream": [int(x) for x in up[region]],
                "n_selected": [int(x) for x in sel[region]],
            },
        }
        if "variations" in s:
            rows[key]["variations"] = variation_efficiencies(s, region, n_gen, eps)
    return rows


def variation_efficiencies(sample: dict, region: np.ndarray, n_gen: int, eps: float) -> dict:
    """Per variation: eps and its factor on the nominal eps (``nuisance_interface``).

    eps_var = sum w(selected, E_F in the signal region) x (N_recorded / sum w(recorded)) / N_gen:
    the weights normalised to the recorded events (the generated events that were not recorded
    carry no truth to weight; approximation: their mean weight is that of the recorded ones);
    with unit weights (calibration and cut variations) this is N_sel(var) / N_gen exactly.
    The stat error uses sum w^2 (binomial-like, sqrt(sum w^2 (1 - eps)) / N_gen)."""
    out = {}
    n_rec = sample["cutflow"]["recorded"]
    for label, v in sorted(sample["variations"].items()):
        h = v["e_miss_selected"]
        sumw = float(h.values()[region].sum())
        sumw2 = float(h.variances()[region].sum())
        rec_w = float(v["cutflow"]["recorded"][0])
        norm = n_rec / rec_w if rec_w > 0 else float("nan")
        eps_v = sumw * norm / n_gen if n_gen else float("nan")
        stat = float(np.sqrt(sumw2 * max(1.0 - eps_v, 0.0)) * norm / n_gen) if n_gen else None
        out[label] = {
            "efficiency": eps_v,
            "efficiency_stat": stat,
            "factor": eps_v / eps if eps > 0 else None,
            "cutflow": {k: [float(x) for x in c] for k, c in v["cutflow"].items()},
        }
    return out
