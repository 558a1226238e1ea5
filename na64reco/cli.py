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
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font substitution chatter


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


def executor_options(func):
    """The executor options shared by ``run`` and ``analyze``."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(["iterative", "futures", "dask"]),
            default="iterative",
            show_default=True,
            help="coffea executor: one process, a local process pool, or a Dask cluster.",
        ),
        click.option(
            "--workers",
            type=int,
            default=2,
            show_default=True,
            help="Processes (futures, local Dask).",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="Dask scheduler to connect to (tcp://host:8786); default: start a LocalCluster.",
        ),
        click.option(
            "--chunksize", type=int, default=100_000, show_default=True, help="Events per chunk."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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
    from na64reco.calib.derive import calibrate_fileset
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
@executor_options
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
@click.option(
    "--checkpoint/--no-checkpoint",
    default=True,
    show_default=True,
    help="Save each finished chunk so that an interrupted run can be resumed (removed at the end).",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the chunk checkpoints [default: OUT/.checkpoint].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Reuse the chunks an interrupted run of the same configuration saved; process the rest.",
)
@click.option(
    "--rehash",
    is_flag=True,
    help="Hash every input file, even those whose checksum is cached and unchanged on disk.",
)
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
    checkpoint,
    checkpoint_dir,
    resume,
    rehash,
) -> None:
    """Run an analysis on the physics files of FILESET and write its outputs to --out.

    \b
    Examples:
      na64 run data_samples/fileset.json --analysis invisible --out results/invisible
      na64 run FILESET --analysis invisible --out DIR --executor dask --workers 4
      na64 run FILESET --analysis invisible --out DIR --executor dask --scheduler tcp://HOST:8786
      na64 run FILESET --analysis invisible --out DIR --resume   # after an interrupted run

    Every input file is validated first; the signal region stays blinded unless --unblind.
    summary.json is written last: a folder without it holds no complete result.
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
            checkpoint=checkpoint,
            resume=resume,
            checkpoint_dir=checkpoint_dir,
            checksum_cache=not rehash,
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


@main.command()
@click.argument("limit_inputs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    required=True,
    type=click.Choice(
        ["aprime", "scalar", "pseudoscalar", "vector", "axial", "zprime", "zprime_dark", "phi"]
    ),
    help="Signal model whose coupling is limited.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: limit_<model>.json and PNG plots.",
)
@click.option("--masses", help="Comma-separated masses in GeV, e.g. 0.001,0.01,0.1.")
@click.option("--mass-grid", metavar="LO:HI:N", help="N log-spaced masses in GeV from LO to HI.")
@click.option("--alpha-d", type=float, help="Dark coupling alpha_D (zprime_dark, aprime).")
@click.option("--mass-ratio", type=float, help="m_X / m_chi (zprime_dark, aprime).")
@click.option(
    "--method",
    type=click.Choice(["auto", "exact", "hybrid", "toys", "asymptotic"]),
    default="auto",
    show_default=True,
    help="CLs calculator: auto = exact without uncertainties, else hybrid (Cousins-Highland); "
    "toys = profile-likelihood q~_mu pseudo-experiments; asymptotic = pyhf cross-check only.",
)
@click.option("--toys", type=int, default=2000, show_default=True, help="Pseudo-experiments.")
@click.option("--seed", type=int, default=20170101, show_default=True, help="Toy random seed.")
@click.option(
    "--yield-unc",
    type=float,
    help="Relative signal-yield uncertainty common to all periods "
    "[default: the inputs' provenance signal_yield_rel_unc, else 0].",
)
@click.option(
    "--k-factor/--no-k-factor",
    default=True,
    show_default=True,
    help="Divide the IWW yields by the exact-tree-level K-factor (--no-k-factor: pure IWW, the "
    "yield treatment of paper 002).",
)
@click.option("--no-plots", is_flag=True, help="Write the JSON only.")
def limit(
    limit_inputs,
    model,
    out_dir,
    masses,
    mass_grid,
    alpha_d,
    mass_ratio,
    method,
    toys,
    seed,
    yield_unc,
    k_factor,
    no_plots,
) -> None:
    """90% CL CLs limits on a model's coupling versus mass from a limit_inputs.json.

    \b
    Examples:
      na64 limit na64reco/limits/published/paper002.json --model aprime --out DIR
      na64 limit inputs.json --model zprime_dark --alpha-d 0.1 --mass-ratio 3 \\
          --mass-grid 0.001:1:50 --out DIR

    Writes DIR/limit_<model>.json (expected band and, when unblinded, observed limits on the
    number of signal events and on the coupling, the inputs summary, provenance and the
    blinding status) and DIR/limit_<model>.png (plus delta_a_<model>.png for S, P, V, A).
    """
    import json

    from na64reco.limit_inputs import load_limit_inputs
    from na64reco.limits.scan import inputs_summary, parse_masses, scan
    from na64reco.provenance import provenance

    inputs = load_limit_inputs(limit_inputs)
    if model not in inputs.models():
        raise click.UsageError(
            f"{limit_inputs}: no efficiency table for model {model!r} "
            f"(has: {', '.join(sorted(inputs.models()))})"
        )
    if toys < 10:
        raise click.BadParameter("need at least 10 toys", param_hint="--toys")
    try:
        mass_list = parse_masses(masses, mass_grid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--masses/--mass-grid") from None
    if yield_unc is None:
        yield_unc = float(inputs.provenance.get("signal_yield_rel_unc", 0.0))
    try:
        result = scan(
            inputs,
            model,
            mass_list,
            method=method,
            ntoys=toys,
            seed=seed,
            signal_corr_unc=yield_unc,
            alpha_d=alpha_d,
            mass_ratio=mass_ratio,
            k_factor=k_factor,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    result["inputs"] = inputs_summary(inputs)
    result["blinding"] = {
        "blinded": inputs.blinded,
        "observed": None if inputs.blinded else "limits from the observed counts",
    }
    result["provenance"] = provenance(
        command="na64 " + shlex.join(sys.argv[1:]),
        inputs={"path": str(limit_inputs), "provenance": inputs.provenance},
    )
    result["title"] = inputs.name.split(":")[0]
    path = out_dir / f"limit_{model}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    plots = [] if no_plots else make_plots_for(result, out_dir)
    logger.info("wrote %s and %d plot(s) (%.1f s)", path, len(plots), result["seconds"])


def make_plots_for(result: dict, out_dir: Path) -> list[Path]:
    from na64reco.limits.plots import make_limit_plots

    return make_limit_plots(result, out_dir)


@main.command()
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="background.json (a Markdown table is written next to it, same name with .md).",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the sideband-fit plots (default: background_plots next to --out).",
)
@click.option(
    "--signal-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of simulated signal samples (*signal*.root): factorised efficiencies.",
)
@click.option(
    "--limit-inputs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write limit_inputs.json (needs --signal-dir).",
)
@click.option(
    "--dimuon-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="'na64 run --analysis dimuon' output on the data: the dimuon cross-check.",
)
@click.option(
    "--dimuon-reference",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="'na64 run --analysis dimuon' output on a simulated physics sample (the prediction).",
)
@click.option(
    "--no-closure", is_flag=True, help="Skip the simulated ABCD closure factor (k = 1 +- 1)."
)
@click.option(
    "--closure-eot",
    type=float,
    default=5e9,
    show_default=True,
    help="EOT of the truth-level sample giving the ABCD closure factor.",
)
def background(
    run_dirs: tuple[Path, ...],
    out: Path,
    plots_dir: Path | None,
    signal_dir: Path | None,
    limit_inputs: Path | None,
    dimuon_dir: Path | None,
    dimuon_reference: Path | None,
    no_closure: bool,
    closure_eot: float,
) -> None:
    """Background in the signal box and normalisation from blinded invisible-mode outputs.

    Per run period: exponential sideband fit (E_HCAL < 1 GeV, E_ECAL from the box edge to the
    trigger threshold or 80 GeV, whichever is lower: above 80 GeV the 2021-2022 sideband is the
    full-energy electron tail) extrapolated into the box, with stat (fit covariance) and syst
    (spread of alternative functions and ranges); ABCD (regions A, C, D) with an MC closure
    factor; MC components; EOT from the prescaled beam trigger. Never reads the box content.
    """
    from na64reco.background import build_background

    doc = build_background(
        list(run_dirs),
        out,
        plots_dir=plots_dir,
        signal_dir=signal_dir,
        limit_inputs=limit_inputs,
        dimuon_dir=dimuon_dir,
        dimuon_reference=dimuon_reference,
        closure=not no_closure,
        closure_eot=closure_eot,
    )
    for r in doc["periods"]:
        t = r["total"]
        click.echo(
            f"{r['period']}: EOT(live) {r['eot']['eot_live']:.3g}, background "
            f"{t['expected']:.3g} +- {t['stat']:.2g} (stat) +- {t['syst']:.2g} (syst) "
            f"[{t['method']}]"
        )
    click.echo(f"wrote {out}" + (f" and {limit_inputs}" if limit_inputs else ""))


@main.command()
@click.argument(
    "fileset", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the stages, report.html and results.json.",
)
@executor_options
@click.option(
    "--calib",
    "calibration",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use these constants instead of deriving them from the calibration runs.",
)
@click.option(
    "--cutset",
    "cutsets",
    multiple=True,
    metavar="ANALYSIS=FILE.toml",
    help="Replace a shipped cut set (invisible, dimuon, phi) by a file; repeatable.",
)
@click.option("--unblind", is_flag=True, help="Reveal the signal box (recorded in the outputs).")
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs are unchanged.")
@click.pass_context
def analyze(
    ctx,
    fileset,
    out_dir,
    executor,
    workers,
    scheduler,
    chunksize,
    calibration,
    cutsets,
    unblind,
    force,
) -> None:
    """The whole chain on FILESET (default: the shipped sample): calibration, the invisible,
    dimuon and phi selections, signal efficiencies, background, limits for every model, and
    DIR/report.html + DIR/results.json.

    Stages whose inputs (files, constants, cut sets) have not changed are reused: a second run
    takes seconds, and changing one cut re-runs only what depends on it.
    """
    from tqdm import tqdm

    from na64reco.analyze import analyze as run_chain

    overrides = {}
    for item in cutsets:
        name, sep, path = item.partition("=")
        if not sep or name not in ("invisible", "dimuon", "phi") or not Path(path).exists():
            raise click.BadParameter(
                f"{item!r}: expected ANALYSIS=FILE.toml with an existing file",
                param_hint="--cutset",
            )
        overrides[name] = path
    quiet = ctx.obj["quiet"]
    if unblind:
        click.secho(
            "WARNING: --unblind reveals the signal box; the act is recorded.", fg="red", err=True
        )

    def progress(stage: str, info: dict) -> None:
        if quiet:
            return
        events = info.get("events", 0)
        rate = events / info["seconds"] if info.get("seconds") else 0.0
        bar = tqdm(total=1, desc=f"{stage:<14}", leave=True, bar_format="{desc} {bar:20} {postfix}")
        bar.update(1)
        bar.set_postfix_str(
            "reused"
            if info.get("reused")
            else f"{info.get('seconds', 0):.1f} s" + (f", {rate:,.0f} events/s" if events else "")
        )
        bar.close()

    results = run_chain(
        fileset,
        out_dir,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        chunksize=chunksize,
        calibration=calibration,
        cutsets=overrides,
        unblind=unblind,
        quiet=quiet,
        force=force,
        progress=progress,
    )
    logger.info("report: %s (%.1f s)", out_dir / "report.html", results["wall_seconds"])
