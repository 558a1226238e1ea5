"""Compile the event loop's numba kernels in a forked process while the parent does other work.

On a fresh install the kernels (calorimeters, the fit cost, tracking, the calorimeter energies
alone, value screens, shower shape) are compiled on first use, ~10 s on one core, and written
to numba's on-disk cache. ``na64 analyze`` first derives the calibration constants,
single-threaded; ``compile_ahead`` forks a child that reconstructs a few events of the first
physics file with the shipped constants meanwhile, one *part* (``PARTS``) after the other: the
calorimeters and iminuit's chi2 first (the calibration needs them a few seconds in and finds
them in the cache), then the tracking, the energies alone (the blinded regions), the value
screens and the shower shape.

The parts are claimed from a shared counter: the child takes them from the front; the parent,
once its calibration is done, takes what is left from the back (``share_compile_ahead``) and
then waits for the part the child is still compiling. No part is warmed up by both, and the
parent idles only while the child finishes its last part (measured, cold, shipped sample: the
parent waited 2.4 s for the tracking, against ~5 s when the child compiled everything after
the calorimeters; a second child, one part each, made the calibration 4 s slower on 2 cores).
The parent's calibration still compiles a calorimeter kernel itself if it needs it before the
child has written it to the cache.

Nothing compiled here reaches an output: the child drops what it computes, never raises, and
its only effect is numba's cache (written atomically by numba, so a process compiling the same
kernel at the same time is harmless); the parent's parts are the same warm-up, run in-process.
It is started only when fork is available and this process runs no other thread (a forked
child must not inherit a lock held elsewhere).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["PARTS", "CompileAhead", "compile_ahead", "finish_compile_ahead", "share_compile_ahead"]

#: the longest the parent waits for the child's last part (cold: a few seconds)
WAIT_LIMIT_S = 30.0


def _calorimeters(w) -> None:
    from na64reco.reco.calorimeters import reconstruct_calorimeters

    w.calo = reconstruct_calorimeters(w.arrays, w.cset)


def _fit_cost(w) -> None:
    """iminuit's numba-compiled chi2 (``LeastSquares`` of the calibration fits)."""
    from iminuit.cost import chi2

    x = np.arange(1.0, 4.0)
    chi2(x, x, x)


def _tracking(w) -> None:
    from na64reco.reco.event import event_tracks

    event_tracks(w.arrays, w.cset)


def _region_energies(w) -> None:
    """The calorimeter energies alone (the blinded regions under the blinding constants)."""
    from na64reco.reco.calorimeters import reconstruct_calorimeter_energies

    reconstruct_calorimeter_energies(w.arrays, w.cset)


def _value_screens(w) -> None:
    from na64reco.eventtree.values import check_values
    from na64reco.processors.selection import screen_chunk

    check_values(w.path, w.arrays)
    screen_chunk(w.path, w.arrays, np.arange(len(w.arrays["run"])), w.cset)


def _shower_shape(w) -> None:
    from na64reco.reco.calorimeters import reconstruct_calorimeters
    from na64reco.reco.event import event_shower_chi2

    if w.calo is None:  # the parent's share: the child did the calorimeters
        w.calo = reconstruct_calorimeters(w.arrays, w.cset)
    event_shower_chi2(w.calo, w.cset)


#: in the child's order (the calibration's kernels first); the parent takes from the end
PARTS = (_calorimeters, _fit_cost, _tracking, _region_energies, _value_screens, _shower_shape)


class _WarmUp:
    """The warm-up events of one physics file and the shipped constants of its run."""

    def __init__(self, path: str) -> None:
        from na64reco.calibration.io import load_calibration
        from na64reco.eventtree.nanoevents import raw_arrays
        from na64reco.run.executors import warm_up_events
        from na64reco.shipped import calibration_path

        self.path = path
        self.arrays = raw_arrays(warm_up_events(path))
        self.cset = load_calibration(calibration_path()).for_run(int(self.arrays["run"][0]))
        self.calo: dict | None = None


@dataclass
class CompileAhead:
    """The child and the shared claim counter ``[next from the front, end of the rest]``."""

    process: multiprocessing.Process
    claims: Any
    path: str


def _claim(claims, front: bool) -> int | None:
    with claims.get_lock():
        if claims[0] >= claims[1]:
            return None
        if front:
            claims[0] += 1
            return claims[0] - 1
        claims[1] -= 1
        return claims[1]


def _run_parts(path: str, claims, front: bool) -> None:
    """Claim parts from the front (the child) or the back (the parent) and run each; the
    warm-up events are read on the first claim."""
    w = None
    while (i := _claim(claims, front)) is not None:
        w = w or _WarmUp(path)
        PARTS[i](w)


def _compile(path: str, claims) -> None:
    logging.disable(logging.CRITICAL)  # the parent reports; the child is silent
    with contextlib.suppress(Exception):  # a failed warm-up only means the run compiles itself
        _run_parts(path, claims, front=True)


def compile_ahead(path: str | Path | None) -> CompileAhead | None:
    """Start the child on ``path`` (None: nothing to do); None if not started."""
    if path is None or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if threading.active_count() > 1:
        return None
    ctx = multiprocessing.get_context("fork")
    claims = ctx.Array("i", [0, len(PARTS)])
    child = ctx.Process(
        target=_compile, args=(str(path), claims), name="na64-compile-ahead", daemon=True
    )
    child.start()
    logger.debug("compiling the event-loop kernels ahead in process %s", child.pid)
    return CompileAhead(child, claims, str(path))


def share_compile_ahead(ahead: CompileAhead | None, limit_s: float = WAIT_LIMIT_S) -> None:
    """Compile the parts the child has not started here, then wait up to ``limit_s`` for the
    child to finish its own (then every kernel is in the cache)."""
    if ahead is None:
        return
    if ahead.process.is_alive():
        try:
            _run_parts(ahead.path, ahead.claims, front=False)
        except Exception:  # as in the child: the run compiles what is missing itself
            logger.debug("compile-ahead part failed in the parent", exc_info=True)
        ahead.process.join(limit_s)


def finish_compile_ahead(ahead: CompileAhead | None) -> None:
    """Stop the child if it is still running (its work is only ever a cache)."""
    if ahead is None:
        return
    if ahead.process.is_alive():
        ahead.process.terminate()
    ahead.process.join()
