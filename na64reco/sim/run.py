"""Simulate whole runs: sample, trigger, digitise and write ROOT files plus a fileset manifest.

A physics run of ``spills_per_run x intensity`` EOT draws N ~ Poisson(rate x EOT) events of every
process in its generation region, the prescaled beam triggers, and the random triggers of its
spills; overlays pile-up, applies the hardware trigger, the trigger efficiency and the DAQ dead
time, places the recorded events in spills in beam order, digitises them with the period's true
calibration and writes one file per run. Every run has its own random stream
``SeedSequence(seed, spawn_key=(period, kind, run))``, so runs can be made in parallel and a run's
content does not depend on which other runs are made.

Run numbers: physics runs count up from the period's first run; calibration and signal runs
take the period's last run numbers (ecal-scan: last, muon: last - 1, random: last - 2,
signal: last - 3), unless ``first_run`` is given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from na64reco import __version__
from na64reco.conditions import get_period
from na64reco.conditions import processes as proc
from na64reco.conditions.truth_calibration import to_json, true_calibration
from na64reco.errors import ConditionsError
from na64reco.eventtree import contract
from na64reco.sim import generators as gen
from na64reco.sim.batch import EventBatch
from na64reco.sim.record import record_events
from na64reco.sim.special_runs import (
    SIGNAL_MODELS,
    generate_ecal_scan,
    generate_muon_run,
    generate_signal,
)

logger = logging.getLogger(__name__)

GENERATOR_NAME = "na64reco.sim"
KINDS = ("physics", "signal", "ecal-scan", "muon", "random")
MAX_EVENTS_PER_FILE = 100_000  # special runs are split into files of at most this many events
SPECIAL_RUN_OFFSET = {"ecal-scan": 0, "muon": 1, "random": 2, "signal": 3}
# Signal samples record the true missing-energy spectrum of all generated events (1 GeV bins):
# efficiencies are quoted against it, e.g. for E_miss > E0 - E_box as in paper 002 eq. 2.
E_MISS_EDGES_GEV = np.linspace(0.0, 120.0, 121)


@dataclass(frozen=True)
class SimRequest:
    """What to simulate. ``eot`` for physics runs, ``events`` for the other kinds."""

    period: str
    kind: str = "physics"
    seed: int = 1
    eot: float | None = None
    events: int | None = None
    signal_model: str | None = None
    mass_gev: float | None = None
    first_run: int | None = None
    rate_scale: dict[str, float] = field(default_factory=dict)
    calibration_epoch: int = 0

    def validate(self) -> None:
        get_period(self.period)
        if self.kind not in KINDS:
            raise ValueError(f"unknown run kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "physics":
            if self.eot is None or not self.eot > 0:
                raise ValueError("a physics run needs a positive EOT")
        elif self.events is None or self.events <= 0:
            raise ValueError(f"a {self.kind} run needs a positive number of events")
        if self.kind == "signal":
            if self.signal_model not in SIGNAL_MODELS:
                raise ValueError(
                    f"unknown signal model {self.signal_model!r}; known: {', '.join(SIGNAL_MODELS)}"
                )
            if self.mass_gev is None or not self.mass_gev > 0:
                raise ValueError("a signal sample needs a positive mass")
        unknown = set(self.rate_scale) - set(gen.BACKGROUND_GENERATORS)
        if unknown:
            raise ValueError(
                f"rate scale for unknown process(es) {sorted(unknown)}; "
                f"known: {', '.join(gen.BACKGROUND_GENERATORS)}"
            )


@dataclass(frozen=True)
class RunPlan:
    """One output file: its run number, exposure (physics) or event count (other kinds)."""

    run: int
    eot: float = 0.0
    events: int = 0
    spills: int = 0


def plan_runs(request: SimRequest) -> list[RunPlan]:
    """Split a request into runs (physics) or files (other kinds)."""
    request.validate()
    period = get_period(request.period)
    if request.kind == "physics":
        eot_per_run = period.spills_per_run * period.intensity_per_spill
        n_runs = max(1, math.ceil(request.eot / eot_per_run - 1e-9))
        first = period.first_run if request.first_run is None else request.first_run
        plans = []
        for i in range(n_runs):
            eot = min(eot_per_run, request.eot - i * eot_per_run)
            plans.append(
                RunPlan(first + i, eot=eot, spills=math.ceil(eot / period.intensity_per_spill))
            )
    else:
        n_files = math.ceil(request.events / MAX_EVENTS_PER_FILE)
        default = period.last_run - SPECIAL_RUN_OFFSET[request.kind] - (n_files - 1)
        first = default if request.first_run is None else request.first_run
        plans = [
            RunPlan(
                first + i, events=min(MAX_EVENTS_PER_FILE, request.events - i * MAX_EVENTS_PER_FILE)
            )
            for i in range(n_files)
        ]
    for plan in plans:
        if not period.first_run <= plan.run <= period.last_run:
            raise ConditionsError(
                f"run {plan.run} is outside period {period.name} "
                f"({period.first_run}-{period.last_run}): reduce the exposure or choose first_run"
            )
    return plans


def _rng(request: SimRequest, run: int) -> np.random.Generator:
    kind_key = KINDS.index(request.kind)
    return np.random.default_rng(
        np.random.SeedSequence(request.seed, spawn_key=(int(request.period), kind_key, run))
    )


def generate_run(request: SimRequest, plan: RunPlan) -> tuple[dict, dict]:
    """Recorded events of one run as writer-ready arrays (with MC truth) and a run summary."""
    period = get_period(request.period)
    ctx = gen.SimContext(
        period, rate_scale=dict(request.rate_scale), calibration_epoch=request.calibration_epoch
    )
    rng = _rng(request, plan.run)
    parts: list[EventBatch] = []
    generated: dict[str, int] = {}
    if request.kind == "physics":
        for name, rate in gen.background_rates(ctx).items():
            n = int(rng.poisson(rate * plan.eot))
            generated[name] = n
            if n:
                parts.append(gen.BACKGROUND_GENERATORS[name](rng, n, ctx))
        n_beam = int(rng.poisson(plan.eot / period.trigger.beam_prescale))
        n_random = plan.spills * period.trigger.random_per_spill
        generated["beam_trigger"], generated["random_trigger"] = n_beam, n_random
        parts.append(gen.generate_beam_trigger(rng, n_beam, ctx))
        parts.append(gen.generate_random_trigger(rng, n_random, ctx))
    elif request.kind == "signal":
        parts.append(generate_signal(rng, plan.events, ctx, request.signal_model, request.mass_gev))
        generated["signal"] = plan.events
    elif request.kind == "ecal-scan":
        parts.append(generate_ecal_scan(rng, plan.events, ctx))
        generated["calib_ecal_scan"] = plan.events
    elif request.kind == "muon":
        parts.append(generate_muon_run(rng, plan.events, ctx))
        generated["calib_muon"] = plan.events
    else:
        parts.append(gen.generate_random_trigger(rng, plan.events, ctx))
        generated["random_trigger"] = plan.events
    batch = EventBatch.concatenate(parts)
    gen.overlay_pileup(rng, batch, ctx)
    e_miss_generated = None
    if request.kind == "signal":  # the denominator of efficiencies: before trigger and dead time
        counts, _ = np.histogram(batch.truth["mc_e_miss"], bins=E_MISS_EDGES_GEV)
        e_miss_generated = counts.tolist()

    kind = "calibration" if request.kind in ("ecal-scan", "muon", "random") else request.kind
    arrays, batch, bookkeeping = record_events(
        rng, batch, ctx, kind, plan.run, plan.spills, dead_time=request.kind != "signal"
    )
    bits = arrays["trigger"]
    n = len(batch)
    recorded = np.bincount(batch.truth["mc_process"], minlength=max(proc.PROCESS_IDS.values()) + 1)
    summary = {
        "run": plan.run,
        "events": n,
        "eot": plan.eot if request.kind == "physics" else None,
        "spills": plan.spills,
        "generated": generated,
        "e_miss_generated": e_miss_generated,
        "recorded_by_process": {
            proc.PROCESS_NAMES[i]: int(c)
            for i, c in enumerate(recorded)
            if c and i in proc.PROCESS_NAMES
        },
        "trigger_counts": {
            name: int(np.count_nonzero(bits & bit))
            for name, bit in (("physics", 1), ("beam", 2), ("random", 4), ("calibration", 8))
        },
        "trigger_thinning": bookkeeping,
    }
    return arrays, summary


def run_metadata(request: SimRequest, plan: RunPlan, summary: dict) -> dict:
    """The ``na64_metadata`` of a simulated file."""
    period = get_period(request.period)
    meta = {
        "schema_version": contract.SCHEMA_VERSION,
        "period": period.name,
        "run": plan.run,
        "kind": request.kind,
        "beam_energy_gev": period.beam_energy_gev,
        "simulation": True,
        "eot": summary["eot"],
        "daq_live_fraction": period.daq_live_fraction if request.kind == "physics" else None,
        "beam_trigger_prescale": period.trigger.beam_prescale,
        "generator": {
            "name": GENERATOR_NAME,
            "version": __version__,
            "seed": request.seed,
            "request": asdict(request),
            "generated": summary["generated"],
            "recorded_by_process": summary["recorded_by_process"],
            "trigger_thinning": summary["trigger_thinning"],
        },
        "signal": (
            {
                "model": request.signal_model,
                "mass_gev": request.mass_gev,
                "events_generated": plan.events,
                "e_miss_edges_gev": E_MISS_EDGES_GEV.tolist(),
                "e_miss_generated": summary["e_miss_generated"],
            }
            if request.kind == "signal"
            else None
        ),
        "trigger_counts": summary["trigger_counts"],
        "true_calibration": {
            "epoch": request.calibration_epoch,
            "constants": to_json(true_calibration(request.period, request.calibration_epoch)),
        },
    }
    return {k: v for k, v in meta.items() if v is not None}


def file_name(request: SimRequest, run: int) -> str:
    kind = request.kind
    if kind == "signal":
        kind = f"signal-{request.signal_model}-{request.mass_gev:g}GeV"
    return f"na64sim_{request.period}_{kind}_run{run:05d}.root"


def _simulate_one(args: tuple[SimRequest, RunPlan, str]) -> dict:
    from na64reco.eventtree import write_events

    request, plan, out_dir = args
    arrays, summary = generate_run(request, plan)
    path = Path(out_dir) / file_name(request, plan.run)
    write_events(path, arrays, run_metadata(request, plan, summary))
    summary["path"] = str(path)
    return summary


def simulate(
    request: SimRequest,
    out_dir: str | Path,
    jobs: int = 1,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Simulate ``request`` into ``out_dir`` (one file per run); returns the run summaries."""
    plans = plan_runs(request)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(request, plan, str(out)) for plan in plans]
    summaries = []
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for summary in pool.map(_simulate_one, tasks):
                summaries.append(summary)
                if progress:
                    progress(summary)
    else:
        for task in tasks:
            summary = _simulate_one(task)
            summaries.append(summary)
            if progress:
                progress(summary)
    logger.info(
        "simulated %d file(s), %d events", len(summaries), sum(s["events"] for s in summaries)
    )
    return summaries


FILESET_KIND = {
    "physics": "physics",
    "signal": "signal",
    "ecal-scan": "calibration",
    "muon": "calibration",
    "random": "random",
}


def update_fileset(
    manifest: str | Path,
    request: SimRequest,
    summaries: list[dict],
    command: str | None = None,
    name: str | None = None,
) -> Path:
    """Add the files of ``summaries`` to the manifest (created if absent; same paths replaced)."""
    from na64reco.checksums import sha256_file
    from na64reco.fileset import Fileset, FilesetEntry, load_fileset, write_fileset

    manifest = Path(manifest)
    entries = []
    for s in summaries:
        entries.append(
            FilesetEntry(
                path=str(Path(s["path"]).resolve()),
                kind=FILESET_KIND[request.kind],
                period=request.period,
                run_min=s["run"],
                run_max=s["run"],
                events=s["events"],
                eot=s["eot"],
                sha256=sha256_file(s["path"]),
                generator={
                    "name": GENERATOR_NAME,
                    "version": __version__,
                    "seed": request.seed,
                    "kind": request.kind,
                    "signal_model": request.signal_model,
                    "mass_gev": request.mass_gev,
                    "rate_scale": dict(request.rate_scale),
                },
            )
        )
    new_paths = {e.path for e in entries}
    commands = [command] if command else []
    if manifest.exists():
        old = load_fileset(manifest)
        kept = [e for e in old.files if e.path not in new_paths]
        entries = kept + entries
        if old.command:
            commands = [c for c in old.command.split("\n") if c != command] + commands
        name = name or old.name
    fileset = Fileset(
        name=name or manifest.parent.name or "na64sim",
        files=entries,
        command="\n".join(commands) or None,
        description="simulated with na64reco.sim; regenerate with the commands in 'command'",
    )
    return write_fileset(manifest, fileset)
