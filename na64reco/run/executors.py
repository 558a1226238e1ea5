"""The coffea executors a run uses: iterative, a local process pool, or Dask.

``make_executor(options)`` yields a coffea executor and a description of it. For Dask it
connects to ``options.scheduler`` (the workers must have this na64reco version installed:
checked first, so that a worker without it fails the run within seconds instead of hanging it)
or starts a ``LocalCluster`` of single-threaded worker processes and closes it after.
``start_warm_up`` makes every Dask worker process a few events while the client validates the
inputs, so that imports and the compiled kernels are loaded before the first chunk.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from na64reco import __version__
from na64reco.errors import NA64Error
from na64reco.eventtree.contract import TREE_NAME
from na64reco.run.options import ExecutorOptions

logger = logging.getLogger(__name__)

SCHEDULER_CONNECT_TIMEOUT_S = 10  # an unreachable scheduler fails after this, not hangs
WARM_UP_EVENTS = 10  # events a Dask worker processes to load the toolkit before its chunks
WARM_UP_TIMEOUT_S = 60.0  # [choose] the warm-up takes ~2 s; a run never waits longer for it

__all__ = [
    "SCHEDULER_CONNECT_TIMEOUT_S",
    "WARM_UP_EVENTS",
    "WARM_UP_TIMEOUT_S",
    "chunk_uproot_options",
    "finish_warm_up",
    "local_cluster_config",
    "make_executor",
    "start_warm_up",
    "warm_up_processor",
]


def chunk_uproot_options(paths: list[str] | tuple[str, ...]) -> dict:
    """``uproot.open`` options of the chunks of ``paths`` (also for benchmarks and warm-ups).

    * No array cache: NanoEvents reads each column once, and uproot's per-file cache keeps
      every column of a chunk alive until CPython's next full collection (the file object is in
      a reference cycle with its TTree models): 0.46 GB against 1.55 GB peak RSS over 40 files,
      ~5% faster than the periodic forced collection that bounded it before.
    * Local files are memory-mapped (``MemmapSource``): uproot's default source sends every
      basket request through fsspec's event-loop thread; mapping reads the same columns
      3-17% faster (benchmarks/README.md). URLs keep uproot's default source.
    """
    import uproot

    options: dict = {"array_cache": None}
    if all("://" not in str(p) for p in paths):
        options["handler"] = uproot.MemmapSource
    return options


@contextlib.contextmanager
def _quiet_logger(name: str, level: int) -> Iterator[None]:
    """Raise a chatty library logger's level (scheduler/worker INFO lines) while running."""
    log = logging.getLogger(name)
    previous = log.level
    if log.getEffectiveLevel() > logging.DEBUG:  # -vv keeps everything
        log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        yield
    finally:
        log.setLevel(previous)


def _check_workers(client: Any, scheduler: str) -> None:
    """Every worker imports na64reco in the client's version (a worker without it dies on the
    first task and the run waits forever). ``eval`` is pickled by name, so it reaches them all."""
    try:
        versions = client.run(eval, "__import__('na64reco').__version__")
    except Exception as exc:
        raise NA64Error(
            f"Dask workers of {scheduler} cannot import na64reco ({type(exc).__name__}: {exc}): "
            "install it in the workers' environment (docs/scale.md)"
        ) from exc
    wrong = {w: v for w, v in versions.items() if v != __version__}
    if wrong:
        raise NA64Error(
            f"Dask workers of {scheduler} run other na64reco versions than the "
            f"client's {__version__}: {wrong}"
        )


def local_cluster_config() -> dict:
    """Dask settings for the workers of a LocalCluster that runs na64reco chunks.

    * ``MALLOC_TRIM_THRESHOLD_`` is not set in the workers: distributed's nannies set it to 64 kB
      so that freed memory goes back to the system at once, which makes glibc unmap and fault in
      again every large numpy buffer of a chunk: the processing took 40 % longer (30-32 s against
      21-22 s of CPU for 3.0e6 events); without uproot's array cache (``chunk_uproot_options``)
      a chunk's columns are freed when the chunk is done, which keeps the memory bounded;
    * the workers' statistical profiler is off: it samples the task thread's stack every 10 ms,
      ~7 % of a chunk's processing time, for a dashboard that a batch run does not look at.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.profile.enabled": False,
    }


@contextlib.contextmanager
def make_executor(options: ExecutorOptions) -> Iterator[tuple[Any, dict]]:
    """A coffea executor and a description of it (closes a LocalCluster it started)."""
    from coffea import processor

    status = not options.quiet
    name, workers = options.executor, options.workers
    if name == "iterative":
        yield processor.IterativeExecutor(status=status), {"name": name}
    elif name == "futures":
        yield (
            processor.FuturesExecutor(workers=workers, status=status),
            {"name": name, "workers": workers},
        )
    elif options.scheduler:
        from distributed import Client

        try:
            client = Client(options.scheduler, timeout=SCHEDULER_CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as exc:  # unreachable, malformed
            raise NA64Error(
                f"cannot connect to the Dask scheduler {options.scheduler}: {exc}"
            ) from exc
        with client:
            _check_workers(client, options.scheduler)
            n = len(client.scheduler_info().get("workers", {}))
            yield (
                processor.DaskExecutor(client=client, status=status),
                {"name": name, "scheduler": options.scheduler, "workers": n},
            )
    else:
        import dask
        from distributed import Client, LocalCluster

        level = logging.ERROR if options.quiet else logging.WARNING
        with (
            _quiet_logger("distributed", level),
            dask.config.set(local_cluster_config()),
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                # no fixed ports: the scheduler and its dashboard take free ones, so a run
                # never collides with another cluster on the machine
                scheduler_port=0,
                dashboard_address=":0",
                silence_logs=level,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield (
                processor.DaskExecutor(client=client, status=status),
                {"name": name, "scheduler": "LocalCluster", "workers": workers},
            )


def warm_up_events(path: str) -> Any:
    """The first ``WARM_UP_EVENTS`` events of ``path`` as the executors read them."""
    from coffea.nanoevents import NanoEventsFactory

    from na64reco.eventtree import NA64Schema

    return NanoEventsFactory.from_root(
        {path: TREE_NAME},
        schemaclass=NA64Schema,
        mode="virtual",
        entry_stop=WARM_UP_EVENTS,
        uproot_options=chunk_uproot_options([path]),
        metadata={"filename": path, "entrystart": 0},
    ).events()


def warm_up_processor(proc: Any, path: str) -> None:
    """Process the first ``WARM_UP_EVENTS`` events of ``path`` with ``proc`` and drop the
    output (raises what reading or processing raises)."""
    proc.process(warm_up_events(path))


def _warm_up(proc: Any, path: str) -> str:
    """``warm_up_processor`` in a fresh worker: imports the toolkit and loads the numba
    kernels from their cache (~2 s). Never raises: the file is not validated yet, and the run
    itself reports any problem with it."""
    try:
        warm_up_processor(proc, path)
    except Exception as exc:  # a bad first file: the validation names it
        return f"warm-up skipped: {type(exc).__name__}: {exc}"
    return "warm"


def start_warm_up(executor: Any, proc: Any, path: str | None) -> list:
    """Start ``_warm_up`` once per worker of a Dask executor (futures; [] otherwise). Each task
    prefers its worker but may run on any other (``allow_other_workers``): a task pinned to a
    worker that dies would wait for it forever."""
    client = getattr(executor, "client", None)
    if client is None or path is None:
        return []
    workers = list(client.scheduler_info().get("workers", {}))
    return [
        client.submit(_warm_up, proc, path, workers=[w], allow_other_workers=True, pure=False)
        for w in workers
    ]


def finish_warm_up(futures: list, timeout_s: float = WARM_UP_TIMEOUT_S) -> None:
    """Wait for the warm-up tasks (they ran during the validation) at most ``timeout_s`` in
    all, then cancel what is left: the warm-up only saves time, it never holds up a run."""
    deadline = time.monotonic() + timeout_s
    for future in futures:
        try:
            result = future.result(timeout=max(0.0, deadline - time.monotonic()))
            logger.debug("worker warm-up: %s", result)
        except Exception as exc:  # a worker lost, or the time is up: the run goes on
            logger.debug("worker warm-up not finished: %s: %s", type(exc).__name__, exc)
            future.cancel()
        future.release()
