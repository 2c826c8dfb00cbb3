"""Writing one export: the filtered, sorted awards, chunk by chunk, to a file renamed when done.

Everything here is synchronous and runs in a worker thread (polars and ISA-L release the GIL);
it talks to the job only through a progress callback and a cancellation event, checked
between chunks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from conveyor.awards.filters import apply_filters, apply_sort
from conveyor.awards.schema import AWARDS_SCHEMA, dataset_files, temporary_name
from conveyor.contracts.jobs import AWARD_COLUMNS, AwardFilters, ExportFormat, SortKey
from conveyor.export_worker.csv_formulas import neutralise_formulas
from conveyor.export_worker.errors import (
    DatasetMissingError,
    ExportCancelledError,
    ExportTooLargeError,
)
from conveyor.export_worker.xlsx import MAX_DATA_ROWS_PER_SHEET, XlsxWriter
from conveyor.export_worker.xlsx import MEDIA_TYPE as XLSX_MEDIA_TYPE

MEDIA_TYPES: dict[str, str] = {
    "xlsx": XLSX_MEDIA_TYPE,
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}

Progress = Callable[[int, int], None]
"""``(rows_written, total_rows)``."""


@dataclass(frozen=True, slots=True)
class Written:
    """What ``write_export`` produced."""

    path: Path
    rows: int
    size_bytes: int
    seconds: float
    truncated_cells: int = 0
    """xlsx: text cells cut at Excel's limit."""


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """The awards an export holds: the dataset's files, filtered, projected, maybe sorted."""

    files: Sequence[Path]
    filters: AwardFilters
    columns: Sequence[str]
    sort: Sequence[SortKey] = ()

    def lazy(self) -> pl.LazyFrame:
        """The whole export as one lazy query."""
        query = apply_filters(_scan(self.files), self.filters)
        if self.sort:
            query = apply_sort(query, self.sort)
        return query.select(self.columns)

    def chunks(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """The export's rows in order, a chunk at a time (chunks may be short or empty)."""
        if self.sort:
            # A sort needs every matching row before the first one: polars holds them all.
            yield from self.lazy().collect_batches(chunk_size=chunk_rows)
            return
        # Unsorted, the dataset is read in slices of its files, each filtered on its own: the
        # parquet reader decodes only the row groups a slice needs, so memory stays at about a
        # slice (the streaming engine's own batches read far ahead: 394 MB for 1M rows).
        for file in self.files:
            rows = _scan([file]).select(pl.len()).collect().item()
            for offset in range(0, rows, chunk_rows):
                part = _scan([file]).slice(offset, chunk_rows)
                yield apply_filters(part, self.filters).select(self.columns).collect()


def _scan(files: Sequence[Path]) -> pl.LazyFrame:
    if not files:
        return pl.LazyFrame(schema=AWARDS_SCHEMA)
    return pl.scan_parquet(list(files), schema=AWARDS_SCHEMA)


def build_query(
    dataset_dir: Path,
    filters: AwardFilters,
    columns: Sequence[str] | None = None,
    sort: Sequence[SortKey] = (),
) -> ExportQuery:
    """The export of ``dataset_dir``'s awards: filtered, sorted if asked (else in dataset order)."""
    if not dataset_dir.is_dir():
        raise DatasetMissingError(dataset_dir)
    files = dataset_files(dataset_dir)
    return ExportQuery(files, filters, list(dict.fromkeys(columns or AWARD_COLUMNS)), sort)


def write_export(
    query: ExportQuery,
    format: ExportFormat,
    final: Path,
    *,
    cancelled: threading.Event,
    progress: Progress,
    chunk_rows: int = 50_000,
    max_rows_per_sheet: int = MAX_DATA_ROWS_PER_SHEET,
    max_rows: int | None = None,
    neutralise_formulas: bool = True,
    fast_deflate: bool = True,
) -> Written:
    """Write ``query`` to ``final`` in ``format``; nothing is left at ``final`` unless it succeeds.

    The file is written under a temporary name and renamed at the end, so a reader never sees
    half an export; a failure or cancellation removes the temporary file. Raises
    ``ExportCancelledError`` when ``cancelled`` is set (checked before every chunk), and
    ``ExportTooLargeError`` before writing anything when more than ``max_rows`` rows match.
    ``neutralise_formulas``: CSV text cells that would start a formula get a leading ``'``.
    ``fast_deflate``: xlsx sheets deflated by ISA-L (``zipfile_bridge``) rather than zlib.
    """
    started = time.monotonic()
    total = int(query.lazy().select(pl.len()).collect().item())
    if max_rows is not None and total > max_rows:
        raise ExportTooLargeError(total, max_rows)
    progress(0, total)
    counter = _Counter(total, cancelled, progress)
    tmp = temporary_name(final)
    truncated = 0
    try:
        with tmp.open("wb") as file:
            match format:
                case "xlsx":
                    truncated = _write_xlsx(
                        query, file, counter, chunk_rows, max_rows_per_sheet, fast_deflate
                    )
                case "csv":
                    _write_csv(query, file, counter, chunk_rows, neutralise_formulas)
                case "parquet":
                    _write_parquet(query, file, counter, chunk_rows)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.monotonic() - started
    return Written(final, counter.rows, final.stat().st_size, seconds, truncated)


class _Counter:
    """Counts rows on their way out, reports them, and stops the export once cancelled."""

    def __init__(self, total: int, cancelled: threading.Event, progress: Progress) -> None:
        self.total = total
        self.rows = 0
        self._cancelled = cancelled
        self._progress = progress

    def check(self) -> None:
        if self._cancelled.is_set():
            raise ExportCancelledError(self.rows)

    def add(self, rows: int) -> None:
        self.rows += rows
        self._progress(self.rows, self.total)

    def chunks(self, query: ExportQuery, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """The query's rows in chunks, checking for cancellation before each one."""
        self.check()
        for chunk in query.chunks(chunk_rows):
            self.check()
            if chunk.height:
                yield chunk


def _write_xlsx(
    query: ExportQuery,
    file: IO[bytes],
    counter: _Counter,
    chunk_rows: int,
    per_sheet: int,
    fast_deflate: bool,
) -> int:
    writer = XlsxWriter(
        file,
        query.lazy().collect_schema(),
        max_rows_per_sheet=per_sheet,
        fast_deflate=fast_deflate,
    )
    try:
        for chunk in counter.chunks(query, chunk_rows):
            writer.write(chunk)
            counter.add(chunk.height)
        counter.check()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.truncated_cells


def _write_csv(
    query: ExportQuery, file: IO[bytes], counter: _Counter, chunk_rows: int, neutralise: bool
) -> None:
    # The header comes from the schema, so an empty result is a header-only file.
    pl.DataFrame(schema=query.lazy().collect_schema()).write_csv(file)
    for chunk in counter.chunks(query, chunk_rows):
        (neutralise_formulas(chunk) if neutralise else chunk).write_csv(file, include_header=False)
        counter.add(chunk.height)


def _write_parquet(query: ExportQuery, file: IO[bytes], counter: _Counter, chunk_rows: int) -> None:
    # polars writes parquet only from a whole frame or a sink, so the chunks are fed to a sink
    # through a Python source: the sink streams row groups, and the source counts and stops.
    from polars.io.plugins import register_io_source

    schema = query.lazy().collect_schema()

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        for chunk in counter.chunks(query, chunk_rows):
            counter.add(chunk.height)
            if predicate is not None:
                chunk = chunk.filter(predicate)
            yield chunk if with_columns is None else chunk.select(with_columns)

    register_io_source(source, schema=schema).sink_parquet(file)
