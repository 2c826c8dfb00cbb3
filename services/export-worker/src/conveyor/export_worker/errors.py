"""The export service's errors: one base class, subclasses carrying what went wrong."""

from __future__ import annotations

from pathlib import Path


class ExportError(Exception):
    """Base of the export service's errors."""


class DatasetMissingError(ExportError):
    """The awards dataset directory does not exist (a deployment problem, not a retryable one)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"no awards dataset at {directory}")
        self.directory = directory


class ExportCancelledError(ExportError):
    """The export stopped between two chunks because its job was cancelled."""

    def __init__(self, rows_written: int) -> None:
        super().__init__(f"export cancelled after {rows_written:,} rows")
        self.rows_written = rows_written
