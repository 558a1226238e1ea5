"""Signal efficiency factorised as in paper 003 Sec. IV B: upstream x eta_down(E_F).

* Upstream cuts (``UPSTREAM_CUTS``: trigger, momentum, SRD, pile-up, beam cell): the same for
  every model (they see the incoming electron and the start of the shower).
* Downstream cuts (shower shape, extra charged, VETO, HCAL zero, box): a function of the emitted
  energy E_F only, eta_down(E_F) = N(all cuts, E_F) / N(upstream cuts, E_F) per 1 GeV bin.

eps_up = N_up / N_gen and eps = N_sel / N_gen over events emitted in the signal region
(E_F > E0 - E_box); eps = eps_up x <eta_down>, their product, exactly. Statistical errors are
binomial; the systematic is ``SYST_REL`` (relative, quadrature sum of: dimuon data/MC yield 10%
(papers 000: ~10%, 002: 15% - we take 10%), trigger efficiency 0.02/0.95, the A' yield model is
the limit module's business).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from na64reco.conditions import get_period, period_of_run
from na64reco.processors.signal_efficiency import (
    E_MISS_EDGES_GEV,
    SignalEfficiencyProcessor,
    box_threshold_gev,
)

UPSTREAM_CUTS = ("trigger", "momentum", "srd", "pileup", "beam_cell")
SYST_COMPONENTS = {"dimuon_data_mc": 0.10, "trigger": 0.02 / 0.95}
SYST_REL = float(np.sqrt(sum(v**2 for v in SYST_COMPONENTS.values())))


class FactorisedEfficiencyProcessor(SignalEfficiencyProcessor):
    """The signal-efficiency processor plus the E_F spectrum after the upstream cuts."""

    def process(self, events):
        import awkward as ak  # noqa: F401  (coffea's arrays)

        from na64reco.cutsets.evaluate import cut_masks
        from na64reco.processors.selection import raw_arrays
        from na64reco.reco.event import reconstruct_event

        out = super().process(events)
        arrays = raw_arrays(events)
        n = len(arrays["run"])
        (key,) = out["samples"]
        if n == 0:
            return out
        run = int(arrays["run"][0])
        variables = reconstruct_event(arrays, self.calibration.for_run(run))
        masks = cut_masks(self.cutset, variables, period_of_run(run).name)
        up = np.ones(n, dtype=bool)
        for name in UPSTREAM_CUTS:
            up &= masks[name]
        e_miss = np.asarray(events.MC.e_miss, dtype=float)
        out["samples"][key]["e_miss_upstream"] = np.histogram(e_miss[up], bins=E_MISS_EDGES_GEV)[0]
        return out


def run_signal_efficiency(paths: list[str], cutset, calibration) -> dict:
    """Run the factorised processor over signal files (coffea Runner, NA64Schema)."""
    from coffea import processor

    from na64reco.eventtree import NA64Schema
    from na64reco.eventtree.contract import TREE_NAME
    from na64reco.eventtree.reader import read_metadata

    info = {}
    for p in paths:
        meta = read_metadata(p)
        if "signal" not in meta:
            raise ValueError(f"{p}: not a signal sample (no 'signal' metadata)")
        info[str(p)] = meta["signal"]
    runner = processor.Runner(
        processor.IterativeExecutor(status=False), schema=NA64Schema, chunksize=200_000
    )
    fileset = {"signal": {"files": {str(p): TREE_NAME for p in paths}}}
    return runner(
        fileset, processor_instance=FactorisedEfficiencyProcessor(cutset, calibration, info)
    )


def factorised_efficiencies(output: dict, cutset) -> list[dict]:
    """Per sample: eps_up, eta_down(E_F), eps = eps_up x <eta_down>, stat and syst."""
    rows = []
    centres = 0.5 * (E_MISS_EDGES_GEV[1:] + E_MISS_EDGES_GEV[:-1])
    for key, s in sorted(output["samples"].items()):
        (period,) = sorted(s["period"])
        thr = get_period(period).beam_energy_gev - box_threshold_gev(cutset, period)
        region = centres > thr
        gen = np.asarray(s["e_miss_generated"])
        up = np.asarray(s["e_miss_upstream"])
        sel = np.asarray(s["e_miss_selected"])
        n_gen, n_up, n_sel = (int(x[region].sum()) for x in (gen, up, sel))
        eps_up = n_up / n_gen
        eta = n_sel / n_up if n_up else float("nan")
        eps = n_sel / n_gen
        with np.errstate(invalid="ignore", divide="ignore"):
            eta_bins = np.where(up > 0, sel / np.maximum(up, 1), np.nan)
        model, mass = key.split("/")
        rows.append(
            {
                "model": model,
                "mass_gev": float(mass),
                "period": period,
                "generated_in_region": n_gen,
                "upstream": eps_up,
                "upstream_stat": float(np.sqrt(eps_up * (1 - eps_up) / n_gen)),
                "downstream": eta,
                "downstream_stat": float(np.sqrt(eta * (1 - eta) / n_up)) if n_up else None,
                "efficiency": eps,
                "efficiency_stat": float(np.sqrt(eps * (1 - eps) / n_gen)),
                "efficiency_syst": eps * SYST_REL,
                "eta_down": {
                    "e_f_gev": [float(c) for c, r in zip(centres, region, strict=True) if r],
                    "eta": [float(x) if np.isfinite(x) else 0.0 for x in eta_bins[region]],
                },
            }
        )
    return rows


def signal_paths(directory: str | Path) -> list[str]:
    return sorted(str(p) for p in Path(directory).glob("*signal*.root"))


__all__ = [
    "SYST_REL",
    "UPSTREAM_CUTS",
    "FactorisedEfficiencyProcessor",
    "factorised_efficiencies",
    "run_signal_efficiency",
    "signal_paths",
]
