"""Exposure (EOT) from the prescaled unbiased beam trigger, and the dimuon cross-check.

EOT: the beam trigger fires on one beam particle in ``beam_prescale`` (conditions; 1e5) and is
recorded through the same DAQ as the physics trigger, dead time included. So
``EOT_live = N_beam x prescale`` counts the *live* electrons on target, the exposure the signal
efficiency (quoted per live EOT: the signal MC has no dead time) multiplies; the delivered EOT is
``EOT_live / live_fraction`` (0.93, paper 002). Uncertainties: Poisson, ``sqrt(N_beam) x
prescale``; systematic ``EOT_SYST_REL`` = 1% [choose] for the beam composition counted by the
beam trigger (~1.1% hadrons and muons in the beam, conditions) and the prescaler stability.

The count comes from the run outputs: ``summary.json`` lists its input files
(``provenance.inputs`` with sha256 and, for converted files, the input map they were read
through); their ``trigger`` and ``run`` branches are read through that map, as the run read them
(the beam-trigger bit is ``TRIGGER_BEAM``; ``run`` assigns each event to its period). The map is
loaded from the file the run recorded and must still have the recorded sha256. The selection
summary has no per-period count of trigger types: reading two branches is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from na64reco.checksums import sha256_file
from na64reco.conditions import get_period, period_of_run
from na64reco.errors import InputFileError
from na64reco.eventtree.contract import TRIGGER_BEAM
from na64reco.eventtree.inputmap import InputMap, load_recorded_input_map
from na64reco.eventtree.reader import read_fixed_branches

EOT_SYST_REL = 0.01


def beam_trigger_counts(
    paths: list[str],
    check: dict[str, str] | None = None,
    input_maps: dict[str, InputMap] | None = None,
) -> dict[str, int]:
    """Beam-trigger events per period in ``paths`` (sha256 compared with ``check`` if given;
    a file in ``input_maps`` read through its map)."""
    counts: dict[str, int] = {}
    input_maps = input_maps or {}
    for path in paths:
        if check is not None and path in check:
            try:
                sha = sha256_file(path)
            except OSError as exc:
                raise InputFileError(path, "file", f"cannot be read: {exc}") from exc
            if sha != check[path]:
                raise InputFileError(
                    path, "sha256", "differs from the run output's provenance: file changed"
                )
        arrays = read_fixed_branches(path, ("run", "trigger"), input_maps.get(path))
        beam = (arrays["trigger"] & TRIGGER_BEAM) > 0
        for run in np.unique(arrays["run"][beam]):
            period = period_of_run(int(run)).name
            counts[period] = counts.get(period, 0) + int(
                np.count_nonzero(beam & (arrays["run"] == run))
            )
    return counts


def eot_from_beam_trigger(period: str, n_beam: int) -> dict:
    """Live and delivered EOT with Poisson and systematic uncertainties."""
    p = get_period(period)
    pre = p.trigger.beam_prescale
    live = n_beam * pre
    stat = float(np.sqrt(n_beam) * pre)
    return {
        "period": period,
        "n_beam_trigger": int(n_beam),
        "prescale": pre,
        "eot_live": float(live),
        "eot_live_stat": stat,
        "eot_live_syst": float(EOT_SYST_REL * live),
        "live_fraction": p.daq_live_fraction,
        "eot_delivered": float(live / p.daq_live_fraction),
        "eot_delivered_stat": stat / p.daq_live_fraction,
        "method": "N_beam x prescale (live); delivered = live / DAQ live fraction",
    }


def run_output_eot(summary, verify: bool = True) -> dict[str, dict]:
    """EOT per period of one run output (a ``RunSummary``: its input files' beam triggers)."""
    inputs = summary.provenance.inputs
    paths = [i.path for i in inputs]
    check = {i.path: i.sha256 for i in inputs} if verify else None
    maps = {i.path: _recorded_map(i.path, i.input_map) for i in inputs if i.input_map}
    counts = beam_trigger_counts(paths, check, maps)
    return {period: eot_from_beam_trigger(period, n) for period, n in counts.items()}


def _recorded_map(path: str, record: dict[str, Any]) -> InputMap:
    """The input map a run read ``path`` through, from the file it recorded (same sha256)."""
    source = record.get("source")
    if not source:
        raise InputFileError(path, "input map", "the run output records no input map file")
    return load_recorded_input_map(path, source, record.get("sha256"), "the run's provenance")


def dimuon_ratio(observed: int, eot_observed: float, reference: int, eot_reference: float) -> dict:
    """Observed dimuons / the simulation's prediction for the same (live) EOT.

    prediction = reference count / reference EOT x observed EOT, the reference being the dimuon
    selection run on a simulated physics sample of the same period (its rate x selection
    efficiency). Uncertainty: Poisson of both counts (EOT errors are negligible here).
    """
    if reference <= 0 or eot_reference <= 0:
        raise ValueError("the dimuon reference sample has no selected event")
    predicted = reference / eot_reference * eot_observed
    ratio = observed / predicted if predicted > 0 else float("nan")
    rel = np.sqrt((1.0 / observed if observed else 0.0) + 1.0 / reference)
    return {
        "observed": int(observed),
        "predicted": float(predicted),
        "predicted_stat": float(predicted / np.sqrt(reference)),
        "ratio": float(ratio),
        "ratio_stat": float(ratio * rel) if observed else float("nan"),
    }


__all__ = [
    "EOT_SYST_REL",
    "beam_trigger_counts",
    "dimuon_ratio",
    "eot_from_beam_trigger",
    "run_output_eot",
]
