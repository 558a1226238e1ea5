"""``na64 simulate``: simulated run files and their fileset manifest."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import LazyChoice, command_line, logger, main, out_folder_option
from na64reco.conditions.periods import PERIODS


def _signal_models() -> tuple[str, ...]:
    from na64reco.sim.special_runs import SIGNAL_MODELS

    return SIGNAL_MODELS


def _calibration_kinds() -> tuple[str, ...]:
    from na64reco.sim.run import KINDS

    return tuple(k for k in KINDS if k not in ("physics", "signal"))


#: the calibration runs of --with-calibration-runs: events per run kind, those of the shipped
#: sample (data_samples/regenerate.sh), enough for every constant 'na64 calibrate' derives
CALIBRATION_RUN_EVENTS = {"ecal-scan": 1080, "muon": 1200, "random": 500}


def _parse_rate_scale(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, factor = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(factor)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: expected PROCESS=FACTOR", param_hint="--rate-scale"
            ) from None
    return out


@main.command()
@click.option(
    "--period",
    required=True,
    type=click.Choice(list(PERIODS)),
    help="Run period: conditions, geometry, trigger thresholds, true calibration.",
)
@click.option("--eot", type=float, help="Electrons on target to simulate (physics runs).")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same content."
)
@out_folder_option("Output folder for the ROOT files and the fileset manifest.")
@click.option(
    "--signal",
    "signal_model",
    type=LazyChoice(_signal_models),
    help="Make a signal sample of this model instead of physics runs (needs --mass, --events).",
)
@click.option("--mass", type=float, help="Signal boson mass in GeV (e.g. 0.02 for 20 MeV).")
@click.option(
    "--calibration",
    type=LazyChoice(_calibration_kinds),
    help="Make a calibration run: ECAL cell scan, HCAL muon run, or random (pedestal) triggers.",
)
@click.option("--events", type=int, help="Events to generate for signal and calibration runs.")
@click.option("--first-run", type=int, help="First run number (default: by period and kind).")
@click.option(
    "--rate-scale",
    multiple=True,
    metavar="PROCESS=FACTOR",
    help="Scale a background process rate, e.g. upstream_interaction=100 (repeatable).",
)
@click.option(
    "--with-calibration-runs",
    is_flag=True,
    help="With a physics sample: also the period's calibration runs (ECAL cell scan, muon run, "
    "random triggers; as many events as the shipped sample's), into the same folder and "
    "manifest: then 'na64 calibrate OUT/fileset.json --out C.json' and 'na64 run ... --calib "
    "C.json'.",
)
@click.option("--jobs", type=int, default=1, show_default=True, help="Runs simulated in parallel.")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fileset manifest to create or extend [default: OUT/fileset.json].",
)
@click.pass_context
def simulate(
    ctx,
    period,
    eot,
    seed,
    out_dir,
    signal_model,
    mass,
    calibration,
    events,
    first_run,
    rate_scale,
    with_calibration_runs,
    jobs,
    manifest,
) -> None:
    """Simulate NA64-e run files (raw amplitudes and times, trigger bits, MC truth).

    \b
    Examples:
      na64 simulate --period 2016 --eot 1e9 --seed 1 --out DIR
      na64 simulate --period 2016 --signal aprime --mass 0.02 --events 1000 --out DIR
      na64 simulate --period 2016 --calibration ecal-scan --events 3600 --out DIR
      na64 simulate --period 2021 --eot 1.5e10 --with-calibration-runs --out DIR

    Writes one ROOT file per run and adds them to a fileset manifest (files, run range, events,
    EOT, sha256) whose 'command' field records how to regenerate them.
    """
    from na64reco.cli.progress import console, steps
    from na64reco.errors import NA64Error
    from na64reco.sim.run import SimRequest, plan_runs, update_fileset
    from na64reco.sim.run import simulate as run_simulation

    if signal_model and calibration:
        raise click.UsageError("--signal and --calibration exclude each other")
    kind = "signal" if signal_model else (calibration or "physics")
    if with_calibration_runs and kind != "physics":
        raise click.UsageError("--with-calibration-runs goes with a physics sample (--eot)")
    request = SimRequest(
        period=period,
        kind=kind,
        seed=seed,
        eot=eot,
        events=events,
        signal_model=signal_model,
        mass_gev=mass,
        first_run=first_run,
        rate_scale=_parse_rate_scale(rate_scale),
    )
    requests = [request]
    if with_calibration_runs:  # the period's calibration runs, as the shipped sample has them
        requests += [
            SimRequest(period=period, kind=k, seed=seed, events=n)
            for k, n in CALIBRATION_RUN_EVENTS.items()
        ]
    try:
        plans = [plan_runs(r) for r in requests]
    except (ValueError, NA64Error) as exc:  # the requests' own checks (options only)
        raise click.UsageError(str(exc)) from None
    target = manifest or out_dir / "fileset.json"
    for req, plan in zip(requests, plans, strict=True):
        label = f"simulate {req.kind} {period}"
        with steps(console(ctx.obj["quiet"]), len(plan), label) as advance:
            summaries = run_simulation(
                req, out_dir, jobs=jobs, progress=lambda s: advance(s["events"])
            )
        n_events = sum(s["events"] for s in summaries)
        path = update_fileset(target, req, summaries, command=command_line())
        logger.info(
            "wrote %d %s file(s), %d events; manifest %s", len(summaries), req.kind, n_events, path
        )
