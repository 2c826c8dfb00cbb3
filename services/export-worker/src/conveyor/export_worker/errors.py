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


class ExportTooLargeError(ExportError):
    """The filters match more rows than one export may hold; found before anything is written."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"the filters match {rows:,} rows; an export may hold at most {limit:,} "
            "(CONVEYOR_EXPORT_MAX_ROWS): narrow the filters or split the export"
        )
        self.rows = rows
        self.limit = limit


class ExportCancelledError(ExportError):
    """The export stopped between two chunks because its job was cancelled."""

    def __init__(self, rows_written: int) -> None:
        super().__init__(f"export cancelled after {rows_written:,} rows")
        self.rows_written = rows_written
