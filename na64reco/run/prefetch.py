"""Compile the event loop's numba kernels in forked processes while the parent does other work.

On a fresh install the kernels (value screens, calorimeters, shower shape, tracking) are
compiled on first use, ~10 s on one core, and written to numba's on-disk cache. ``na64
analyze`` first derives the calibration constants, single-threaded; ``compile_ahead`` forks a
child that reconstructs a few events of the first physics file with the shipped constants
meanwhile: the calorimeters first (the calibration needs those kernels a few seconds in and
finds them in the cache), then the shower shape, the value screens and the tracking.
``wait_compile_ahead`` lets the parent wait for a child still compiling instead of compiling
the same kernels a second time beside it (measured, cold, shipped sample: a second child, one
part each, made the calibration 4 s slower on 2 cores and the whole command 3 s slower).

Nothing the child does reaches an output: it drops what it computes, never raises, and its
only effect is numba's cache (written atomically by numba, so a parent compiling the same
kernel at the same time is harmless). It is started only when fork is available and this
process runs no other thread (a forked child must not inherit a lock held elsewhere).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["compile_ahead", "finish_compile_ahead", "wait_compile_ahead"]

#: the longest the parent waits for the child before compiling itself (cold: ~10 s)
WAIT_LIMIT_S = 30.0


def _compile(path: str) -> None:
    logging.disable(logging.CRITICAL)  # the parent reports; the child is silent
    try:
        from na64reco.calibration.io import load_calibration
        from na64reco.eventtree.nanoevents import raw_arrays
        from na64reco.eventtree.values import check_values
        from na64reco.processors.selection import screen_chunk
        from na64reco.reco.calorimeters import reconstruct_calorimeters
        from na64reco.reco.event import event_shower_chi2, event_tracks
        from na64reco.run.executors import warm_up_events
        from na64reco.shipped import calibration_path

        arrays = raw_arrays(warm_up_events(path))
        cset = load_calibration(calibration_path()).for_run(int(arrays["run"][0]))
        event_shower_chi2(reconstruct_calorimeters(arrays, cset), cset)
        check_values(path, arrays)
        screen_chunk(path, arrays, np.arange(len(arrays["run"])), cset)
        event_tracks(arrays, cset)
    except Exception:  # a failed warm-up only means the run compiles itself
        pass


def compile_ahead(path: str | Path | None) -> multiprocessing.Process | None:
    """Start the child on ``path`` (None: nothing to do); the process, or None if not started."""
    if path is None or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if threading.active_count() > 1:
        return None
    child = multiprocessing.get_context("fork").Process(
        target=_compile, args=(str(path),), name="na64-compile-ahead", daemon=True
    )
    child.start()
    logger.debug("compiling the event-loop kernels ahead in process %s", child.pid)
    return child


def wait_compile_ahead(child: multiprocessing.Process | None, limit_s: float = WAIT_LIMIT_S):
    """Wait up to ``limit_s`` for the child to finish (then the kernels are in the cache)."""
    if child is not None and child.is_alive():
        child.join(limit_s)


def finish_compile_ahead(child: multiprocessing.Process | None) -> None:
    """Stop the child if it is still running (its work is only ever a cache)."""
    if child is None:
        return
    if child.is_alive():
        child.terminate()
    child.join()
