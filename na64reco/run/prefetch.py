"""Compile the event loop's numba kernels in a forked process while the parent does other work.

On a fresh install the kernels (value screens, calorimeter clustering, shower shape) are
compiled on first use, ~5-8 s on one core, and written to numba's on-disk cache. ``na64
analyze`` first derives the calibration constants, single-threaded; ``compile_ahead`` forks a
child that processes a few events of the first physics file with the shipped constants
meanwhile, so that the selections find the kernels in the cache instead of compiling them.

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

from na64reco.cutsets.config import CutSet

logger = logging.getLogger(__name__)

__all__ = ["compile_ahead", "finish_compile_ahead"]


def _compile(path: str, cutset: CutSet) -> None:
    logging.disable(logging.CRITICAL)  # the parent reports; the child is silent
    try:
        from na64reco.blinding.definition import load_blinding_calibration
        from na64reco.calibration.io import load_calibration
        from na64reco.processors import SelectionProcessor
        from na64reco.run.executors import warm_up_processor
        from na64reco.shipped import calibration_path

        proc = SelectionProcessor(
            cutset,
            load_calibration(calibration_path()),
            blinding_calibration=load_blinding_calibration()[0],
        )
        warm_up_processor(proc, path)
    except Exception:  # a failed warm-up only means the run compiles itself
        pass


def compile_ahead(path: str | Path | None, cutset: CutSet) -> multiprocessing.Process | None:
    """Start the child on ``path`` (None: nothing to do); the process, or None if not started."""
    if path is None or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if threading.active_count() > 1:
        return None
    child = multiprocessing.get_context("fork").Process(
        target=_compile, args=(str(path), cutset), name="na64-compile-ahead", daemon=True
    )
    child.start()
    logger.debug("compiling the event-loop kernels ahead in process %s", child.pid)
    return child


def finish_compile_ahead(child: multiprocessing.Process | None) -> None:
    """Stop the child if it is still running (its work is only ever a cache)."""
    if child is None:
        return
    if child.is_alive():
        child.terminate()
    child.join()
