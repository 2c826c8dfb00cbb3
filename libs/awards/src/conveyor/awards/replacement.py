"""Committing an import: the last row of each award reference wins, and replaces the award's
earlier rows already in the dataset, in one atomic switch of the manifest.

Existing files holding a replaced award are rewritten without it under new names; files that
hold none are kept as they are. The new version is named by a new manifest renamed over the
old one, so a reader sees the old set or the new one, never both copies of an award.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from conveyor.awards.errors import DatasetLockedError
from conveyor.awards.manifest import (
    DatasetManifest,
    RetiredFile,
    expired,
    read_manifest,
    write_manifest,
)
from conveyor.awards.row_checks import ROW
from conveyor.awards.schema import (
    AWARDS_SCHEMA,
    data_file_name,
    dataset_files,
    next_file_index,
    temporary_name,
)
from conveyor.awards.staging import FILE, SEQ

REFERENCE = "award_reference_no"
LOCK_NAME = ".import.lock"

SUPERSEDED = "award_reference_no repeated later in this import (the later row is kept)"
"""The reason an earlier row of a reference imported twice in one import is not kept."""


_SUPERSEDED_SCHEMA = {
    SEQ: pl.Int64,
    FILE: pl.Int32,
    ROW: pl.Int64,
    REFERENCE: pl.String,
    "kept": pl.String,
}


@dataclass(slots=True)
class Committed:
    written: list[Path] = field(default_factory=list)
    """The new files: rewrites of existing ones, then the imported rows."""
    replaced: int = 0
    """Rows already in the dataset that the import replaced."""
    retired: list[Path] = field(default_factory=list)
    """Files the new version no longer names (deleted after the grace period)."""


@contextmanager
def import_lock(directory: Path) -> Iterator[None]:
    """Hold the dataset's import lock (one import at a time per directory)."""
    with (directory / LOCK_NAME).open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DatasetLockedError(directory) from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def superseded_rows(parts: list[Path], file_names: list[str]) -> pl.DataFrame:
    """Staged rows whose reference comes again later in the import: ``SEQ``, file number,
    row, reference and where the kept row is (``kept``: "FILE row N")."""
    if not parts:
        return pl.DataFrame(schema=_SUPERSEDED_SCHEMA)
    repeated = (
        pl.scan_parquet(parts)
        .select(REFERENCE, SEQ, FILE, ROW)
        .filter(pl.col(REFERENCE).is_duplicated())
        .collect()
    )
    if repeated.is_empty():
        return pl.DataFrame(schema=_SUPERSEDED_SCHEMA)
    names = dict(enumerate(file_names))
    last = (
        repeated.sort(SEQ)
        .group_by(REFERENCE)
        .agg(
            pl.col(SEQ).last().alias("__kept_seq"),
            pl.col(FILE).last().alias("__kept_file"),
            pl.col(ROW).last().alias("__kept_row"),
        )
    )
    return (
        repeated.join(last, on=REFERENCE)
        .filter(pl.col(SEQ) != pl.col("__kept_seq"))
        .sort(SEQ)
        .select(
            SEQ,
            FILE,
            ROW,
            REFERENCE,
            pl.format(
                "{} row {}",
                pl.col("__kept_file").replace_strict(names, return_dtype=pl.String),
                pl.col("__kept_row"),
            ).alias("kept"),
        )
    )


def commit_import(
    directory: Path, parts: list[Path], losers: pl.Series, *, rows_per_file: int
) -> Committed:
    """Make the staged rows (minus the ``losers``' ``SEQ`` numbers) part of the dataset,
    replacing every existing row with one of their references. Call under ``import_lock``."""
    committed = Committed()
    if not parts:
        return committed
    fresh = pl.scan_parquet(parts).filter(~pl.col(SEQ).is_in(losers.implode()))
    references = fresh.select(pl.col(REFERENCE).unique()).collect().get_column(REFERENCE)
    manifest = read_manifest(directory)
    current = dataset_files(directory)
    if manifest is None:
        # Adopt the files as they are, so the new files renamed in below stay invisible
        # until the manifest that names them replaces this one.
        manifest = DatasetManifest(files=[p.name for p in current], updated_at=time.time())
        write_manifest(directory, manifest)
    hits = _replaced_rows(current, references)
    index = next_file_index(directory)
    pending: list[tuple[Path, Path]] = []
    files: list[str] = []

    def new_file() -> Path:
        nonlocal index
        final = directory / data_file_name(index)
        index += 1
        pending.append((temporary_name(final), final))
        files.append(final.name)
        return temporary_name(final)

    try:
        for path in current:
            if not hits.get(path.name):
                files.append(path.name)
                continue
            committed.replaced += hits[path.name]
            committed.retired.append(path)
            kept = pl.read_parquet(path).filter(~pl.col(REFERENCE).is_in(references.implode()))
            if kept.height:
                kept.write_parquet(new_file(), compression="zstd", statistics=True)
        for frame in _in_files(parts, losers, rows_per_file):
            frame.write_parquet(new_file(), compression="zstd", statistics=True)
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in pending:
        os.replace(tmp, final)
    committed.written = [final for _, final in pending]
    now = time.time()
    retired = [
        *manifest.retired,
        *(RetiredFile(p.name, now) for p in committed.retired),
    ]
    gone = expired(retired, now=now)
    write_manifest(
        directory,
        DatasetManifest(files=files, retired=[r for r in retired if r not in gone], updated_at=now),
    )
    # Deleted only once no manifest names them; readers that listed them had the grace
    # period to finish.
    for r in gone:
        (directory / r.name).unlink(missing_ok=True)
    return committed


def _replaced_rows(files: list[Path], references: pl.Series) -> dict[str, int]:
    """File name -> how many of its rows have one of ``references``."""
    if not files or references.is_empty():
        return {}
    counts = (
        pl.scan_parquet(files, include_file_paths="__path")
        .select(REFERENCE, "__path")
        .filter(pl.col(REFERENCE).is_in(references.implode()))
        .group_by("__path")
        .len()
        .collect()
    )
    return {Path(p).name: n for p, n in counts.iter_rows()}


def _in_files(parts: list[Path], losers: pl.Series, rows_per_file: int) -> Iterator[pl.DataFrame]:
    """The kept rows in import order (parts are in ``SEQ`` order), in frames of
    ``rows_per_file`` rows with the dataset's columns; a part at a time in memory."""
    buffer: list[pl.DataFrame] = []
    buffered = 0
    for part in parts:
        frame = (
            pl.read_parquet(part)
            .filter(~pl.col(SEQ).is_in(losers.implode()))
            .select(list(AWARDS_SCHEMA))
        )
        buffer.append(frame)
        buffered += frame.height
        while buffered >= rows_per_file:
            whole = pl.concat(buffer, rechunk=True)
            yield whole.head(rows_per_file)
            rest = whole.slice(rows_per_file)
            buffer, buffered = [rest], rest.height
    if buffered:
        yield pl.concat(buffer, rechunk=True)
