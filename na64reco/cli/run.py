"""``na64 run``: one selection over the physics files of a fileset."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import (
    build_options,
    calibration_option,
    command_line,
    cutflow_table,
    execution_options,
    executor_options,
    gain_tolerance_option,
    logger,
    main,
    out_folder_option,
    systematics_path_of,
)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--analysis",
    required=True,
    help="Analysis: invisible, dimuon, phi (shipped cut sets) or a cut-set .toml file.",
)
@out_folder_option(
    "Output folder: histograms.root/.json, summary.json, sideband_events.csv, plots."
)
@executor_options
@calibration_option("Calibration constants [default: the shipped calib/na64sim-2016-2022.json].")
@gain_tolerance_option
@click.option(
    "--unblind",
    is_flag=True,
    help="Reveal the cut set's signal region and the protected region of its name (recorded "
    "in OUT/unblinding.jsonl and summary.json). Only for a frozen analysis.",
)
@click.option(
    "--systematics",
    type=str,
    help="Evaluate these systematic variations in the same pass: a TOML file, or an analysis "
    "name for the shipped selections/systematics/NAME.toml (outputs variations.json and "
    "name__up/__down histograms).",
)
@click.option(
    "--skip-bad-files", is_flag=True, help="Leave out invalid files (listed in the summary)."
)
@click.option("--maxchunks", type=int, help="Process at most N chunks (a quick look).")
@click.option(
    "--plots",
    type=click.Choice(["default", "all", "none"]),
    default="default",
    show_default=True,
    help="PNG plots: the planes and cut flows of every period, every N-1 too, or none.",
)
@click.option("--no-plots", is_flag=True, help="Make no plot (the same as --plots none).")
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
    "--skim",
    metavar="STAGE",
    help="Also write the events passing the cuts up to STAGE (a cut name, or 'all') as ROOT "
    "files in the contract format, with their manifest: OUT/skims/ (blinded events never).",
)
@click.option(
    "--skim-target-mb",
    type=float,
    help="Merge the skims of a period into files of about this size [default: one per input].",
)
@click.option(
    "--rehash",
    is_flag=True,
    help="Hash every input file, even those whose checksum is cached and unchanged on disk.",
)
@click.pass_context
def run(
    ctx,
    inputs,
    analysis,
    out_dir,
    executor,
    workers,
    scheduler,
    chunksize,
    calibration,
    gain_tolerance,
    unblind,
    systematics,
    skip_bad_files,
    maxchunks,
    plots,
    no_plots,
    checkpoint,
    checkpoint_dir,
    resume,
    skim,
    skim_target_mb,
    rehash,
) -> None:
    """Run an analysis on the physics files of INPUTS and write its outputs to --out.

    INPUTS: a fileset manifest, or ROOT event files, folders and glob patterns (a fileset is
    built in memory as 'na64 fileset' would write it, every file validated).

    \b
    Examples:
      na64 run data_samples/fileset.json --analysis invisible --out results/invisible
      na64 run /data/na64/2022/ --analysis invisible --out inv --calib mycalib.json
      na64 run FILESET --analysis invisible --out DIR --skim veto   # events after veto too
      na64 run FILESET --analysis invisible --out DIR --executor dask --workers 4
      na64 run FILESET --analysis invisible --out DIR --executor dask --scheduler tcp://HOST:8786
      na64 run FILESET --analysis invisible --out DIR --resume   # after an interrupted run

    Every input file is validated first; every blinded region stays hidden unless --unblind.
    The previous outputs in OUT are replaced as a whole (files the toolkit did not write are
    never removed); summary.json is written last: a folder without it holds no complete result.
    """
    from na64reco.analyses import resolve_cutset
    from na64reco.fileset import as_fileset
    from na64reco.run import RunOptions, run_analysis

    options = build_options(
        RunOptions,
        execution=execution_options(
            ctx, executor, workers, scheduler, chunksize, maxchunks=maxchunks
        ),
        calibration=calibration,
        gain_tolerance=gain_tolerance,
        unblind=unblind,
        systematics=systematics_path_of(systematics),
        skip_bad_files=skip_bad_files,
        make_plots=not no_plots and plots != "none",
        plots="all" if plots == "all" else "default",
        checkpoint=checkpoint,
        resume=resume,
        checkpoint_dir=checkpoint_dir,
        checksum_cache=not rehash,
        skim=skim,
        skim_target_mb=skim_target_mb,
        command=command_line(),
    )
    cutset = resolve_cutset(analysis)
    fs = as_fileset(inputs, skip_bad=skip_bad_files)  # a manifest: checked by the run
    if unblind:
        click.secho(
            "WARNING: --unblind: the signal region will be visible in every output. "
            "This is recorded in the unblinding ledger and in summary.json.",
            fg="red",
            bold=True,
            err=True,
        )
    summary = run_analysis(fs, cutset, out_dir, options)
    if not ctx.obj["quiet"]:
        click.echo(f"\ncutflow of {summary.analysis} (events after each cut):")
        click.echo(cutflow_table(summary.cutflow))
    skipped = sum(r.skipped for r in summary.accounting)
    logger.info(
        "%s: %d events processed, %d skipped, %d bad file(s); outputs in %s",
        summary.analysis,
        summary.events_processed,
        skipped,
        len(summary.bad_files),
        out_dir,
    )
