"""Every exception the toolkit raises on purpose (one module, as pyhf's ``exceptions``).

Each names what is at fault: the file (or configuration) and the item. They pickle intact, so a
Dask worker's error reaches the client as the same class with the same message.
"""

from __future__ import annotations

from pathlib import Path


class NA64Error(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputFileError(NA64Error):
    """A run file that cannot be used: not ROOT, truncated, missing or mistyped branch, ..."""

    def __init__(self, path: str | Path, item: str, problem: str) -> None:
        self.path = str(path)
        self.item = item
        self.problem = problem
        super().__init__(f"{self.path}: {item}: {problem}")

    def __reduce__(self):  # pickled intact (e.g. back from a Dask worker that validated a file)
        return (type(self), (self.path, self.item, self.problem))


class SchemaVersionError(InputFileError):
    """The file declares an event-tree schema version this toolkit does not know."""


class ConfigError(NA64Error):
    """A configuration or artefact file (fileset, selection, calibration, ...) is malformed."""

    def __init__(self, path: str | Path, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.key, self.problem))


class OptionsError(NA64Error):
    """Options of a run or a stage that cannot be used together (names the option)."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}")

    def __reduce__(self):
        return (type(self), (self.option, self.problem))


class ConditionsError(NA64Error):
    """A run number or period unknown to the conditions description."""


class CalibrationError(NA64Error):
    """No constants for a run, or a calibration that cannot be derived."""


class AccountingError(NA64Error):
    """Events processed + skipped do not add up to a file's entries."""


class SidebandFitError(NA64Error):
    """A nominal sideband fit that does not converge (names the source and the period)."""


__all__ = [
    "AccountingError",
    "CalibrationError",
    "ConditionsError",
    "ConfigError",
    "InputFileError",
    "NA64Error",
    "OptionsError",
    "SchemaVersionError",
    "SidebandFitError",
]
