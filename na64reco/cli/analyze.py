"""``na64 analyze``: the whole chain with reusable stages, ``report.html`` and ``results.json``."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import (
    build_options,
    calibration_option,
    command_line,
    execution_options,
    executor_options,
    gain_tolerance_option,
    logger,
    main,
    out_folder_option,
    systematics_path_of,
)


def _cutset_overrides(items: tuple[str, ...]) -> dict:
    from na64reco.analyses import ANALYSES
    from na64reco.blinding import check_protected_cutset
    from na64reco.cutsets import load_cutset

    overrides = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in ANALYSES or not Path(path).is_file():
            raise click.BadParameter(
                f"{item!r}: expected ANALYSIS=FILE.toml with ANALYSIS one of "
                f"{', '.join(ANALYSES)} and an existing file",
                param_hint="--cutset",
            )
        cutset = load_cutset(Path(path))
        if cutset.name != name:
            raise click.BadParameter(
                f"{item!r}: the cut set in {path} is named {cutset.name!r}, not {name!r}",
                param_hint="--cutset",
            )
        check_protected_cutset(cutset)  # a protected analysis keeps its blinded region
        overrides[name] = cutset
    return overrides


@main.command()
@click.argument("inputs", nargs=-1)
@out_folder_option("Folder for the stages, report.html and results.json.")
@executor_options
@calibration_option("Use these constants instead of deriving them from the calibration runs.")
@gain_tolerance_option
@click.option(
    "--cutset",
    "cutsets",
    multiple=True,
    metavar="ANALYSIS=FILE.toml",
    help="Replace a shipped cut set (invisible, dimuon, phi) by a file; repeatable.",
)
@click.option(
    "--systematics",
    type=str,
    help="Systematic variations of the invisible search, evaluated in the same pass as each "
    "selection and signal-efficiency stage: a TOML file or 'invisible' (the shipped one); "
    "they reach background.json and limit_inputs.json as named nuisances.",
)
@click.option("--unblind", is_flag=True, help="Reveal the signal box (recorded in the outputs).")
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs are unchanged.")
@click.pass_context
def analyze(
    ctx,
    inputs,
    out_dir,
    executor,
    workers,
    scheduler,
    chunksize,
    calibration,
    gain_tolerance,
    cutsets,
    systematics,
    unblind,
    force,
) -> None:
    """The whole chain on INPUTS (default: the shipped sample): calibration, the invisible,
    dimuon and phi selections, signal efficiencies, background, limits for every model, and
    DIR/report.html + DIR/results.json.

    INPUTS: a fileset manifest, or ROOT event files, folders and glob patterns (a fileset is
    built in memory as 'na64 fileset' would write it).

    Stages whose inputs (files, constants, cut sets) have not changed are reused: a second run
    takes seconds, and changing one cut re-runs only what depends on it.
    """
    from na64reco.cli.progress import console, stage_line
    from na64reco.pipeline import AnalyzeOptions
    from na64reco.pipeline import analyze as run_chain
    from na64reco.run import RunOptions

    quiet = ctx.obj["quiet"]
    options = build_options(
        AnalyzeOptions,
        # the stages' own progress bars stay quiet: the chain prints one line per stage
        run=build_options(
            RunOptions,
            execution=execution_options(ctx, executor, workers, scheduler, chunksize, quiet=True),
            gain_tolerance=gain_tolerance,
            systematics=systematics_path_of(systematics),
        ),
        calibration=calibration,
        cutsets=_cutset_overrides(cutsets),
        unblind=unblind,
        force=force,
        command=command_line(),
    )
    if unblind:
        click.secho(
            "WARNING: --unblind reveals the signal box; the act is recorded.", fg="red", err=True
        )

    out = console(quiet)
    from na64reco.fileset import as_fileset

    fileset = as_fileset(inputs) if inputs else None
    results = run_chain(
        fileset, out_dir, options, progress=lambda stage, info: stage_line(out, stage, info)
    )
    logger.info("report: %s (%.1f s)", out_dir / "report.html", results["wall_seconds"])
