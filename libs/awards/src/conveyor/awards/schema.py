"""The awards dataset's column types and on-disk layout (a directory of numbered parquet files,
and a manifest naming the current ones once an import replaced awards)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from conveyor.awards.manifest import read_manifest
from conveyor.contracts.jobs import AWARD_COLUMNS

DATASET_DIR = "awards"
"""The dataset's directory under a service's data directory (``CONVEYOR_DATA_DIR``)."""

MONEY_COLUMNS = ("approved_budget", "contract_amount")
DATE_COLUMNS = ("published_date", "award_date")

AWARDS_SCHEMA = pl.Schema(
    [
        (
            name,
            pl.Float64()
            if name in MONEY_COLUMNS
            else pl.Date()
            if name in DATE_COLUMNS
            else pl.String(),
        )
        for name in AWARD_COLUMNS
    ]
)
"""Column name -> polars type, in the order of ``AWARD_COLUMNS``."""

_FILE_RE = re.compile(r"^awards-(\d{5,})\.parquet$")


def data_file_name(index: int) -> str:
    """The name of the dataset's ``index``-th file (``awards-00000.parquet``)."""
    return f"awards-{index:05d}.parquet"


def temporary_name(final: Path) -> Path:
    """Where a file is written before it is renamed to ``final`` (hidden, never globbed)."""
    return final.with_name(f".{final.name}.tmp")


def stored_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Every ``awards-*.parquet`` on disk in index order, retired ones included."""
    found = [
        (int(m.group(1)), p)
        for p in Path(directory).iterdir()
        if (m := _FILE_RE.match(p.name)) and p.is_file()
    ]
    return [p for _, p in sorted(found)]


def dataset_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The parquet files of the dataset's current version, in order.

    Those the manifest names when there is one (``conveyor.awards.manifest``: an import that
    replaced awards), else every ``awards-*.parquet`` in index order. Temporary files are
    never part of it.
    """
    manifest = read_manifest(directory)
    if manifest is None:
        return stored_files(directory)
    return [Path(directory) / name for name in manifest.files]


def next_file_index(directory: str | os.PathLike[str]) -> int:
    """The index the next file added to the dataset gets (past every file on disk, so a
    retired file's name is never reused while a reader may still hold it)."""
    files = stored_files(directory)
    if not files:
        return 0
    m = _FILE_RE.match(files[-1].name)
    assert m is not None
    return int(m.group(1)) + 1


def dataset_version(directory: str | os.PathLike[str]) -> str:
    """A short hash of the files' names, sizes and mtimes: cheap, changes whenever a file does.

    Caches key on it, so it must never read file contents (10M rows would make every cache
    lookup slow); a rewrite in place changes the mtime (ns) and so the version.
    """
    digest = hashlib.sha256()
    for path in dataset_files(directory):
        st = path.stat()
        digest.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def scan_dataset(directory: str | os.PathLike[str]) -> pl.LazyFrame:
    """A lazy frame over the whole dataset (empty, with the schema, when there are no files)."""
    files = dataset_files(directory)
    if not files:
        return pl.LazyFrame(schema=AWARDS_SCHEMA)
    return pl.scan_parquet(files, schema=AWARDS_SCHEMA)


def count_rows(directory: str | os.PathLike[str]) -> int:
    """The number of rows, from the parquet footers only."""
    files = dataset_files(directory)
    if not files:
        return 0
    return int(pl.scan_parquet(files).select(pl.len()).collect().item())


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the dataset's columns, order and types (missing ones null)."""
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in AWARDS_SCHEMA.items()
    )


def commit_files(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Rename each written temporary file to its final name.

    Renames happen only after every file was written, so a reader (or ``dataset_version``)
    never sees half a generation or import.
    """
    for tmp, final in pairs:
        os.replace(tmp, final)
