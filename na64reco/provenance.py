"""Provenance stamped into every output: versions, commit, inputs with checksums, settings."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from na64reco import __version__

PACKAGES = (
    "numpy",
    "awkward",
    "uproot",
    "coffea",
    "hist",
    "boost-histogram",
    "numba",
    "scipy",
    "iminuit",
    "correctionlib",
    "dask",
    "distributed",
)


def package_versions() -> dict[str, str]:
    out = {"na64reco": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict[str, str | bool | None]:
    """The commit of the na64reco source tree (None outside a git checkout), and whether the
    tree has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = (
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(root),
                    "status",
                    "--porcelain",
                    "--",
                    "na64reco",
                    "processors",
                    "selections",
                    "calib",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            != ""
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": dirty}


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def provenance(**settings) -> dict:
    """Versions, commit and time, plus whatever the caller adds (inputs, calibration, cuts,
    executor, seeds, blinding...)."""
    return {
        "versions": package_versions(),
        "source": git_commit(),
        "created": utc_now(),
        **settings,
    }


__all__ = ["git_commit", "package_versions", "provenance", "utc_now"]
