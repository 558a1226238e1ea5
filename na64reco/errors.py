"""The project's exceptions: every one names the file (or config) and the item at fault."""

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


class ConditionsError(NA64Error):
    """A run number or period unknown to the conditions description."""
