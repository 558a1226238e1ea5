"""What ships with the toolkit: the cut sets, the calibration constants and the sample.

Installed under the one import name (``na64reco.selections``, ``na64reco.calib``,
``na64reco.data_samples``) from the design card's top-level folders; these functions are the
only place that knows where.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_CALIBRATION = "na64sim-2016-2022.json"

__all__ = ["DEFAULT_CALIBRATION", "calibration_path", "cutset_path", "sample_fileset_path"]


def cutset_path(name: str) -> Path:
    """``selections/<name>.toml``."""
    return Path(str(resources.files("na64reco.selections") / f"{name}.toml"))


def calibration_path(name: str = DEFAULT_CALIBRATION) -> Path:
    """The shipped constants for the shipped sample (``calib/na64sim-2016-2022.json``)."""
    return Path(str(resources.files("na64reco.calib") / name))


def sample_fileset_path() -> Path:
    """The manifest of the shipped sample (``data_samples/fileset.json``)."""
    return Path(str(resources.files("na64reco.data_samples") / "fileset.json"))
