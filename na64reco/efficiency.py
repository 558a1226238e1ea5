"""Signal efficiency of signal samples, factorised as in paper 003 Sec. IV B.

Runs ``SignalEfficiencyProcessor`` (``na64reco.processors.signal_efficiency``: one
reconstruction pass per chunk fills both the upstream and the fully selected spectra) over
signal files and returns one row per sample: eps_up, eta_down(E_F), eps and their errors.
"""

from __future__ import annotations

from pathlib import Path

from na64reco.processors.signal_efficiency import (
    SYST_REL,
    UPSTREAM_CUTS,
    SignalEfficiencyProcessor,
    efficiencies,
)


def run_signal_efficiency(paths: list[str], cutset, calibration) -> dict:
    """Run the signal-efficiency processor over signal files (coffea Runner, NA64Schema)."""
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
    return runner(fileset, processor_instance=SignalEfficiencyProcessor(cutset, calibration, info))


def factorised_efficiencies(output: dict, cutset) -> list[dict]:
    """The rows of ``efficiencies`` as a list, sample by sample."""
    return list(efficiencies(output, cutset).values())


def signal_paths(directory: str | Path) -> list[str]:
    return sorted(str(p) for p in Path(directory).glob("*signal*.root"))


__all__ = [
    "SYST_REL",
    "UPSTREAM_CUTS",
    "factorised_efficiencies",
    "run_signal_efficiency",
    "signal_paths",
]
