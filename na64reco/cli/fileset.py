"""``na64 fileset``: a fileset manifest from event files, folders and globs."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import command_line, logger, main


@main.command("fileset")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manifest to write (JSON), e.g. DIR/fileset.json.",
)
@click.option("--name", help="Fileset name [default: the files' folder name].")
@click.option(
    "--kind",
    type=click.Choice(["auto", "physics", "calibration", "random", "signal"]),
    default="auto",
    show_default=True,
    help="File kind; auto: from the trigger bits (signal samples: from the metadata).",
)
@click.option(
    "--period",
    default="auto",
    show_default=True,
    help="Run period; auto: the metadata's, else the period holding the file's runs.",
)
@click.option(
    "--map",
    "input_map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Input map (TOML) from the files' branch names, shapes and units to the contract; "
    "recorded in the manifest and applied by every reader.",
)
@click.option("--append", is_flag=True, help="Add the files to the existing manifest --out.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Open and hash the files on the workers of this Dask scheduler (tcp://host:8786).",
)
def fileset(inputs, out, name, kind, period, input_map, append, scheduler) -> None:
    """Make (or extend) a fileset manifest from event files, folders and glob patterns.

    Every file is opened once and validated (through --map when given), its runs, entries,
    trigger bits (for --kind auto), period and EOT are read, and it is hashed (sha256). A file
    listed twice or runs overlapping another file of the same kind are refused.

    \b
    Examples:
      na64 fileset /data/na64/2022/*.root --out na64-2022.json
      na64 fileset converted/ --map p348reco-2022.toml --out fileset.json
      na64 fileset calib_runs/ --kind calibration --out fileset.json --append
    """
    import contextlib

    from na64reco.eventtree.inputmap import load_input_map
    from na64reco.fileset import load_fileset, write_fileset
    from na64reco.fileset.build import build_fileset, expand_inputs

    if period != "auto":
        from na64reco.conditions.periods import get_period

        get_period(period)  # an unknown period: its list of known ones
    existing = None
    if append:
        if not out.is_file():
            raise click.UsageError(f"--append: {out} does not exist")
        existing = load_fileset(out)
    elif out.exists():
        raise click.UsageError(f"{out} exists: use --append to extend it, or another name")
    with contextlib.ExitStack() as stack:
        map_files = None
        if scheduler is not None:
            from distributed import Client

            from na64reco.run.validation import dask_mapper

            map_files = dask_mapper(stack.enter_context(Client(scheduler)))
        fs = build_fileset(
            expand_inputs(inputs),
            name=name,
            kind=kind,
            period=period,
            input_map=load_input_map(input_map) if input_map is not None else None,
            existing=existing,
            manifest=out,
            command=command_line(),
            map_files=map_files,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_fileset(out, fs)
    added = len(fs.files) - (len(existing.files) if existing else 0)
    kinds = sorted({f.kind for f in fs.files})
    logger.info("wrote %s: %d file(s) (%d added; %s)", out, len(fs.files), added, ", ".join(kinds))
    for f in fs.files[len(fs.files) - added :]:
        click.echo(
            f"{Path(f.path).name}: {f.kind}, period {f.period}, runs {f.run_min}-{f.run_max}, "
            f"{f.events} events"
        )
