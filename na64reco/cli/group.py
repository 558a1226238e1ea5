"""The ``na64`` command group: logging, one-line errors, the shared option helpers."""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from na64reco import __version__
from na64reco.errors import NA64Error, OptionsError

logger = logging.getLogger("na64reco")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font substitution chatter


class _Group(click.Group):
    """Turns the project's own errors into a one-line message, no traceback: options that
    cannot be used are usage errors (exit code 2), every other error exits with 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OptionsError as exc:
            raise click.UsageError(str(exc), ctx) from exc
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


class LazyChoice(click.Choice):
    """A Choice whose list comes from the library when first needed (the one source of the
    list, without importing the library at start-up)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._loaded: tuple[str, ...] | None = None
        super().__init__([], case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns it
        pass


def command_line() -> str:
    """How this command was invoked (for provenance)."""
    return "na64 " + shlex.join(sys.argv[1:])


def build_options(factory: Callable, **values):
    """``factory(**values)``; a ValidationError (a bad option value) becomes a usage error."""
    from pydantic import ValidationError

    try:
        return factory(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        raise click.UsageError(f"{where}: {err['msg']}") from None


def cutflow_table(cutflow: dict[str, dict[str, int | None]]) -> str:
    """The cutflow as a text table: one row per cut, one column per period; blinded (null)
    entries read "blinded"."""
    periods = sorted(cutflow)
    cuts = list(dict.fromkeys(c for p in periods for c in cutflow[p]))
    cells = [["cut", *periods]]
    for cut in cuts:
        values = [cutflow[p].get(cut) for p in periods]
        cells.append([cut, *("blinded" if v is None else f"{v:,}" for v in values)])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(row: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(padded)

    lines = [line(row) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def out_folder_option(help_text: str):
    """``--out DIR`` (the output folder, passed as ``out_dir``)."""
    return click.option(
        "--out",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=help_text,
    )


def calibration_option(help_text: str):
    """``--calib FILE`` (a calibration constants file, passed as ``calibration``)."""
    return click.option(
        "--calib",
        "calibration",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=help_text,
    )


def executor_options(func):
    """The executor options shared by ``run`` and ``analyze``."""
    from na64reco.run.options import EXECUTORS

    options = [
        click.option(
            "--executor",
            type=click.Choice(EXECUTORS),
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


def gain_tolerance_option(func):
    """``--gain-tolerance F``: a gain more than F times off its nominal value is an error."""
    from na64reco.calibration.sanity import DEFAULT_GAIN_TOLERANCE, GAIN_WARN_FACTOR

    return click.option(
        "--gain-tolerance",
        type=float,
        default=DEFAULT_GAIN_TOLERANCE,
        show_default=True,
        help=f"A calibration gain more than this factor from the nominal one is an error "
        f"(beyond {GAIN_WARN_FACTOR:g}: a warning, recorded).",
    )(func)


def execution_options(ctx: click.Context, executor, workers, scheduler, chunksize, **more):
    """The ExecutorOptions of the executor flags (``quiet`` from the group unless given)."""
    from na64reco.run.options import ExecutorOptions

    more.setdefault("quiet", ctx.obj["quiet"])
    return build_options(
        ExecutorOptions,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        chunksize=chunksize,
        **more,
    )


__all__ = [
    "LazyChoice",
    "build_options",
    "calibration_option",
    "command_line",
    "cutflow_table",
    "execution_options",
    "executor_options",
    "gain_tolerance_option",
    "logger",
    "main",
    "out_folder_option",
]


def systematics_path_of(value: str | None) -> Path | None:
    """``--systematics``: a path as given, or the shipped file of an analysis name."""
    if value is None:
        return None
    from na64reco.systematics.config import systematics_path

    return Path(value) if Path(value).suffix else systematics_path(value)
