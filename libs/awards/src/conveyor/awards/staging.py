"""Accepted rows of an import in progress, kept in parquet parts beside the dataset.

Each row carries its place in the import (``SEQ``), its file (``FILE``) and row number
(``ROW``), so the commit can keep the last of repeated references and report the others. A
file found unreadable part-way has its parts dropped, so nothing of it is imported.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import polars as pl

from conveyor.awards.row_checks import ROW

SEQ = "__seq"
FILE = "__file"
STAGING_PREFIX = ".import-"
"""Hidden: the dataset's readers list only ``awards-*.parquet``."""


def remove_stale_staging(out: Path) -> None:
    """Delete what an import that crashed left behind (call under the import lock: no other
    import is running, so every staging directory is stale)."""
    for directory in out.glob(f"{STAGING_PREFIX}*"):
        if directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)


class StagedRows:
    """Parts of at most ``rows_per_part`` rows under a hidden directory in ``out``."""

    def __init__(self, out: Path, rows_per_part: int) -> None:
        self.directory = out / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        self.directory.mkdir()
        self._rows_per_part = rows_per_part
        self._parts: list[tuple[int, Path]] = []
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0
        self._seq = 0

    @property
    def parts(self) -> list[Path]:
        return [path for _, path in self._parts]

    def add(self, file_no: int, frame: pl.DataFrame) -> None:
        """Stage ``frame`` (dataset columns and ``ROW``) as rows of file ``file_no``."""
        if frame.is_empty():
            return
        self._buffer.append(
            frame.with_columns(
                pl.lit(file_no, pl.Int32).alias(FILE),
                pl.int_range(self._seq, self._seq + frame.height, dtype=pl.Int64).alias(SEQ),
                pl.col(ROW).cast(pl.Int64),
            )
        )
        self._seq += frame.height
        self._buffered += frame.height
        if self._buffered >= self._rows_per_part:
            self.end_file(file_no)

    def end_file(self, file_no: int) -> None:
        """Write what is buffered for ``file_no`` as a part."""
        if not self._buffer:
            return
        path = self.directory / f"part-{len(self._parts):06d}.parquet"
        pl.concat(self._buffer, rechunk=True).write_parquet(path, compression="lz4")
        self._parts.append((file_no, path))
        self._buffer, self._buffered = [], 0

    def drop_file(self, file_no: int) -> None:
        """Forget every row of ``file_no`` (buffered or written)."""
        self._buffer, self._buffered = [], 0
        for number, path in [p for p in self._parts if p[0] == file_no]:
            path.unlink(missing_ok=True)
            self._parts.remove((number, path))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
