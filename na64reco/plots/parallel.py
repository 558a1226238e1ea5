"""Render independent plots in forked worker processes, one per available core (at most
``MAX_WORKERS``); serially where fork is unsafe or pointless.

Each plot is a pure function of in-memory histograms that writes one PNG (~0.3 s of
matplotlib drawing, most of it tick and text layout), so a run's plots divide between cores.
Fork shares the parent's memory (nothing is pickled but the returned paths) and is used only
when this process runs no other thread (a Dask client or a progress thread: serial), so a
forked child never inherits a lock held elsewhere. Identical bytes either way.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MAX_WORKERS = 4  # [choose] beyond ~4 plots per run the fork start-up outweighs the gain

Job = tuple[Callable[..., Path], tuple, dict[str, Any]]
_jobs: Sequence[Job] = ()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _render_one(index: int) -> Path:
    func, args, kwargs = _jobs[index]
    return func(*args, **kwargs)


def render(jobs: Sequence[Job], workers: int | None = None) -> list[Path]:
    """Run every ``(func, args, kwargs)`` job; their results (paths) in the jobs' order."""
    global _jobs
    n = min(len(jobs), workers or _cores(), MAX_WORKERS)
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if n < 2 or not forkable or threading.active_count() > 1:
        return [func(*args, **kwargs) for func, args, kwargs in jobs]
    _jobs = jobs
    try:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return pool.map(_render_one, range(len(jobs)), chunksize=1)
    finally:
        _jobs = ()
