"""The ``na64`` command line: thin commands that build options, validate and call the library.

One module per command (``simulate``, ``fileset``, ``calibrate``/``inspect``, ``run``,
``background``, ``limit``, ``analyze``), registered on the group of ``group``. No physics here.
"""

import gc

from na64reco.cli import (  # noqa: F401
    analyze,
    background,
    calibrate,
    fileset,
    limit,
    run,
    simulate,
)
from na64reco.cli.group import main


def entry() -> None:
    """The ``na64`` console script: ``main``, then the heap frozen before the interpreter
    exits. Its teardown otherwise spends ~1 s having the garbage collector traverse the
    ~300k objects of numba, coffea, dask and matplotlib once the command is done. Freezing
    only keeps the collector off them; every exit handler still runs."""
    try:
        main()
    finally:
        gc.freeze()


__all__ = ["entry", "main"]
