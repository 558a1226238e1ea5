"""The ``na64`` command line: thin wrappers that validate input and call the library."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import click

from na64reco import __version__
from na64reco.errors import NA64Error

logger = logging.getLogger("na64reco")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


class _Group(click.Group):
    """Turns the project's own errors into a one-line message (exit code 1), no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NA64Error as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="na64")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """na64reco: simulate, reconstruct and analyse NA64-e run files.

    Every command validates its inputs and fails with a message naming the file and the problem.
    """
    _setup_logging(verbose, quiet)
    ctx.obj = {"quiet": quiet}


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
    type=click.Choice(["2016", "2017", "2018", "2021", "2022"]),
    help="Run period: conditions, geometry, trigger thresholds, true calibration.",
)
@click.option("--eot", type=float, help="Electrons on target to simulate (physics runs).")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same content."
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for the ROOT files and the fileset manifest.",
)
@click.option(
    "--signal",
    "signal_model",
    type=click.Choice(["aprime", "scalar", "pseudoscalar", "vector", "axial", "zprime", "phi"]),
    help="Make a signal sample of this model instead of physics runs (needs --mass, --events).",
)
@click.option("--mass", type=float, help="Signal boson mass in GeV (e.g. 0.02 for 20 MeV).")
@click.option(
    "--calibration",
    type=click.Choice(["ecal-scan", "muon", "random"]),
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
    jobs,
    manifest,
) -> None:
    """Simulate NA64-e run files (raw amplitudes and times, trigger bits, MC truth).

    \b
    Examples:
      na64 simulate --period 2016 --eot 1e9 --seed 1 --out DIR
      na64 simulate --period 2016 --signal aprime --mass 0.02 --events 1000 --out DIR
      na64 simulate --period 2016 --calibration ecal-scan --events 3600 --out DIR

    Writes one ROOT file per run and adds them to a fileset manifest (files, run range, events,
    EOT, sha256) whose 'command' field records how to regenerate them.
    """
    from tqdm import tqdm

    from na64reco.sim.run import SimRequest, plan_runs, update_fileset
    from na64reco.sim.run import simulate as run_simulation

    if signal_model and calibration:
        raise click.UsageError("--signal and --calibration exclude each other")
    kind = "signal" if signal_model else (calibration or "physics")
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
    try:
        plans = plan_runs(request)
    except (ValueError, NA64Error) as exc:
        raise click.UsageError(str(exc)) from None
    bar = tqdm(
        total=len(plans), unit="run", disable=ctx.obj["quiet"], desc=f"simulate {kind} {period}"
    )
    n_events = 0

    def progress(summary: dict) -> None:
        nonlocal n_events
        n_events += summary["events"]
        bar.update(1)
        bar.set_postfix(
            events=n_events, rate=f"{n_events / max(bar.format_dict['elapsed'], 1e-9):.0f}/s"
        )

    summaries = run_simulation(request, out_dir, jobs=jobs, progress=progress)
    bar.close()
    command = "na64 " + shlex.join(sys.argv[1:])
    path = update_fileset(manifest or out_dir / "fileset.json", request, summaries, command=command)
    logger.info("wrote %d file(s), %d events; manifest %s", len(summaries), n_events, path)


@main.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--verify-checksums", is_flag=True, help="Check every file against its manifest sha256."
)
def inspect(target: Path, verify_checksums: bool) -> None:
    """Validate a fileset manifest (or one ROOT file) and summarise its content.

    Prints per file: kind, period, runs, events per trigger type, EOT; then totals.
    """
    from na64reco.inspect import inspect_target

    click.echo(inspect_target(target, verify_checksums=verify_checksums))


@main.command()
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output calibration file (correctionlib JSON), e.g. calib/NAME.json.",
)
@click.option("--name", help="Calibration name [default: the output file's stem].")
@click.option("--version", "version", type=int, default=1, show_default=True, help="Version.")
def calibrate(fileset: Path, out: Path, name: str | None, version: int) -> None:
    """Derive pedestals, gains, t0 and channel flags from a fileset's calibration runs.

    Uses random triggers (pedestals, noise), ecal-scan runs (ECAL and SRD gains) and muon runs
    (HCAL, VETO, counter gains) of every period in FILESET, and writes one correctionlib file
    with one calibration set per period. Prints the flagged channels and failed fits.

    \b
    Example:
      na64 calibrate data_samples/fileset.json --out calib/na64sim-2016-2022.json
    """
    from na64reco.calibration.derive import calibrate_fileset
    from na64reco.calibration.io import write_calibration

    sets = calibrate_fileset(fileset, name=name or out.stem, version=version)
    write_calibration(out, sets, version=version)
    for cset in sets:
        flags = cset.provenance["flags"]
        summary = ", ".join(
            f"{det} " + "/".join(f"{n} {k}" for k, n in counts.items() if n)
            for det, counts in flags.items()
            if any(counts.values())
        )
        click.echo(
            f"{cset.name} v{cset.version}: period {cset.period}, runs {cset.run_min}-"
            f"{cset.run_max}; flagged: {summary or 'none'}"
        )
        for item in cset.provenance["report"]:
            click.echo(
                f"  {item['channel']}: {item['constant']}: {item['problem']} ({item['action']})"
            )
    click.echo(f"wrote {out}")


@main.command()
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--analysis",
    required=True,
    help="Analysis: invisible, dimuon, phi (shipped cut sets) or a cut-set .toml file.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: histograms.root/.pkl, summary.json, sideband_events.csv, plots.",
)
@click.option(
    "--executor",
    type=click.Choice(["iterative", "futures", "dask"]),
    default="iterative",
    show_default=True,
    help="coffea executor: one process, a local process pool, or a Dask cluster.",
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="Processes (futures, local Dask)."
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler to connect to (tcp://host:8786); default: start a LocalCluster.",
)
@click.option("--chunksize", type=int, default=100_000, show_default=True, help="Events per chunk.")
@click.option(
    "--calib",
    "calibration",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Calibration constants [default: the shipped calib/na64sim-2016-2022.json].",
)
@click.option(
    "--unblind",
    is_flag=True,
    help="Reveal the signal region (recorded in summary.json). Only for a frozen analysis.",
)
@click.option(
    "--skip-bad-files", is_flag=True, help="Leave out invalid files (listed in the summary)."
)
@click.option("--maxchunks", type=int, help="Process at most N chunks (a quick look).")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Make the PNG plots.")
@click.pass_context
def run(
    ctx,
    fileset,
    analysis,
    out_dir,
    executor,
    workers,
    scheduler,
    chunksize,
    calibration,
    unblind,
    skip_bad_files,
    maxchunks,
    plots,
) -> None:
    """Run an analysis on the physics files of FILESET and write its outputs to --out.

    \b
    Examples:
      na64 run data_samples/fileset.json --analysis invisible --out results/invisible
      na64 run FILESET --analysis invisible --out DIR --executor dask --workers 4
      na64 run FILESET --analysis invisible --out DIR --executor dask --scheduler tcp://HOST:8786

    Every input file is validated first; the signal region stays blinded unless --unblind.
    """
    from na64reco.execution import run_analysis

    if unblind:
        click.secho(
            "WARNING: --unblind: the signal region will be visible in every output. "
            "This is recorded in summary.json.",
            fg="red",
            bold=True,
            err=True,
        )
    try:
        summary = run_analysis(
            fileset,
            analysis,
            out_dir,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            chunksize=chunksize,
            calibration=calibration,
            unblind=unblind,
            skip_bad_files=skip_bad_files,
            maxchunks=maxchunks,
            quiet=ctx.obj["quiet"],
            make_plots=plots,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    processed = sum(r["processed"] for r in summary["accounting"])
    skipped = sum(r["skipped"] for r in summary["accounting"])
    logger.info(
        "%s: %d events processed, %d skipped, %d bad file(s); outputs in %s",
        summary["analysis"],
        processed,
        skipped,
        len(summary["bad_files"]),
        out_dir,
    )
