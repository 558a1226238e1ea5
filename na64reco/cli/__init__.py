"""The ``na64`` command line: thin commands that build options, validate and call the library.

One module per command (``simulate``, ``fileset``, ``calibrate``/``inspect``, ``run``,
``background``, ``limit``, ``analyze``), registered on the group of ``group``. No physics here.
"""

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

__all__ = ["main"]
