"""Progress output of the commands, with one library (rich, as coffea's own bars).

On a terminal a live bar; in a log file (not a terminal) one plain line per step and no bar
redrawn, so nothing is printed twice. ``-q`` silences both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["console", "stage_line", "steps"]


def console(quiet: bool):
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, highlight=False)


def stage_line(out, stage: str, info: dict) -> None:
    """One line per ``analyze`` stage: reused, or its seconds; for the stages that process
    events, the event loop's own rate (events per second of the loop, not of the stage)."""
    if info.get("reused"):
        text = "reused"
    else:
        text = f"{info.get('seconds', 0.0):.1f} s"
        events, loop = info.get("events", 0), info.get("loop_seconds")
        if events and loop:
            text += f" (event loop {loop:.2f} s: {events / loop:,.0f} events/s)"
    out.print(f"{stage:<26} {text}")


@contextmanager
def steps(out, total: int, description: str) -> Iterator:
    """A bar of ``total`` steps on a terminal; ``advance(n_events)`` after each step."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[events]:,} events"),
        TimeElapsedColumn(),
        console=out,
        disable=not out.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total, events=0)
        counted = {"events": 0}

        def advance(n_events: int) -> None:
            counted["events"] += n_events
            progress.update(task, advance=1, events=counted["events"])
            if not out.is_terminal:
                out.print(f"{description}: {counted['events']:,} events")

        yield advance
