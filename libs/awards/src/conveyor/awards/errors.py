"""Errors of the awards library: files that cannot be read as award tables."""

from __future__ import annotations

from pathlib import Path


class AwardsError(Exception):
    """Base class of the awards library's errors."""


class UnreadableFileError(AwardsError):
    """A file that cannot be read to its end; nothing of it is imported."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFileError(UnreadableFileError):
    """A file whose type the importer does not read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "not a .csv, .xlsx or .xlsm file")


class DatasetLockedError(AwardsError):
    """Another import into the same dataset directory is running."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"{directory}: another import into this dataset is running")
        self.directory = directory
