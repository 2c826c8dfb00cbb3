"""Streams the rows of award CSV and XLSX files as text, in blocks, with their row numbers.

A file either reads to its end or raises ``UnreadableFileError`` naming why (corrupt
workbook, unknown text encoding, a field over ``MAX_FIELD_CHARS``); the reader never guesses
past damage. Rows whose shape does not fit the header (short, or with cells beyond it) are
handed back as rejections, and blank rows as a count, so every row is accounted for.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conveyor.awards.charsets import detect_encoding
from conveyor.awards.errors import UnreadableFileError, UnsupportedFileError
from conveyor.awards.headers import find_header_row

HEADER_SEARCH_ROWS = 20
"""How far down a sheet the header row is looked for."""

DEFAULT_BLOCK_ROWS = 100_000

MAX_FIELD_CHARS = 16 * 2**20
"""The longest CSV field read (characters); a longer one makes the file unreadable."""

SHORT_ROW = "short row"
EXTRA_CELLS = "cells beyond the header"

CSV_SUFFIXES = (".csv",)
XLSX_SUFFIXES = (".xlsx", ".xlsm")


@dataclass(slots=True)
class Block:
    """Consecutive rows of one sheet: the data rows, cut or padded to the header's width,
    the rows rejected for their shape, and how many were blank."""

    rows: list[list[str | None]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    """1-based, counted as a spreadsheet shows them (the header row included)."""
    rejected: list[tuple[int, str, str | None]] = field(default_factory=list)
    """(row number, reason, offending text)."""
    blank: int = 0

    def __bool__(self) -> bool:
        return bool(self.rows or self.rejected or self.blank)


@dataclass(frozen=True, slots=True)
class Sheet:
    """One table of a file: a CSV file, or one worksheet of a workbook."""

    name: str | None
    headers: list[str | None] | None
    """None when no header row was found near the top."""
    blocks: Iterator[Block]
    header_row: int = 0
    """1-based row of the header (0 when none was found)."""
    encoding: str | None = None
    """The codec a CSV file is read with (None for a worksheet)."""


def read_sheets(
    path: str | os.PathLike[str], *, block_rows: int = DEFAULT_BLOCK_ROWS
) -> Iterator[Sheet]:
    """The tables in ``path`` (by extension: .csv, or .xlsx/.xlsm), read lazily.

    Consume each sheet's blocks before asking for the next sheet. Raises
    ``UnreadableFileError`` (also while iterating) when the file cannot be read to its end.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise UnreadableFileError(p, "no such file" if not p.exists() else "not a file")
    if suffix in CSV_SUFFIXES:
        yield from _csv_sheets(p, block_rows)
    elif suffix in XLSX_SUFFIXES:
        yield from _xlsx_sheets(p, block_rows)
    else:
        raise UnsupportedFileError(p)


def csv_encoding(path: Path) -> str:
    """The codec a CSV file is read with (``UnreadableFileError`` when none fits)."""
    try:
        return detect_encoding(path)
    except OSError as exc:
        raise UnreadableFileError(path, exc.strerror or str(exc)) from exc


def _csv_sheets(path: Path, block_rows: int) -> Iterator[Sheet]:
    encoding = csv_encoding(path)
    # Process-wide, but every CSV read in this program wants the same ceiling.
    csv.field_size_limit(MAX_FIELD_CHARS)
    with path.open(newline="", encoding=encoding) as fh:
        records = _csv_records(path, csv.reader(fh))
        yield _sheet(None, records, block_rows, short_rows_rejected=True, encoding=encoding)


def _csv_records(path: Path, reader: Iterator[list[str]]) -> Iterator[list[str | None]]:
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The parser's state after an error is not trustworthy (a quoted field may span
            # lines), so the file stops here rather than importing what follows by guesswork.
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a field is longer than the limit of {MAX_FIELD_CHARS:,} characters"
            raise UnreadableFileError(path, f"row {number + 1}: {reason}") from exc
        number += 1
        yield record  # type: ignore[misc]


def _xlsx_sheets(path: Path, block_rows: int) -> Iterator[Sheet]:
    import openpyxl  # type: ignore[import-untyped]

    if not zipfile.is_zipfile(path):
        raise UnreadableFileError(path, "not an .xlsx workbook (the file is not a zip archive)")
    try:
        # read_only streams the sheet XML instead of building every cell; data_only gives the
        # cached values of formula cells.
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        # A damaged workbook fails in many ways inside openpyxl, zipfile and the XML parser.
        raise _unreadable_workbook(path, exc) from exc
    try:
        for worksheet in workbook.worksheets:
            # The stored dimensions are often wrong (writers that never set them): read all.
            worksheet.reset_dimensions()
            cells = _guarded(path, worksheet.iter_rows(min_row=1, values_only=True))
            yield _sheet(
                worksheet.title,
                ([_cell_text(v) for v in row] for row in cells),
                block_rows,
                short_rows_rejected=False,
            )
    finally:
        workbook.close()


def _guarded(path: Path, rows: Iterator[Sequence[object]]) -> Iterator[Sequence[object]]:
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise _unreadable_workbook(path, exc) from exc
        yield row


def _unreadable_workbook(path: Path, exc: Exception) -> UnreadableFileError:
    return UnreadableFileError(path, f"damaged workbook ({type(exc).__name__}: {exc})")


def _sheet(
    name: str | None,
    rows: Iterator[list[str | None]],
    block_rows: int,
    *,
    short_rows_rejected: bool,
    encoding: str | None = None,
) -> Sheet:
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    index = find_header_row(head)
    if index is None:
        return Sheet(name, None, iter(()), encoding=encoding)
    headers = head[index]
    # Trailing empty header cells (a sheet formatted wider than its table) are not columns.
    width = max((i + 1 for i, h in enumerate(headers) if h is not None and h.strip()), default=0)
    data = itertools.chain(head[index + 1 :], rows)
    blocks = _blocks(data, width, index + 2, block_rows, short_rows_rejected)
    return Sheet(name, headers[:width], blocks, header_row=index + 1, encoding=encoding)


def _blocks(
    rows: Iterator[Sequence[str | None]],
    width: int,
    first_number: int,
    block_rows: int,
    short_rows_rejected: bool,
) -> Iterator[Block]:
    block = Block()
    for number, row in enumerate(rows, start=first_number):
        if not any(cell is not None and cell.strip() for cell in row):
            block.blank += 1
        elif extra := [c for c in row[width:] if c is not None and c.strip()]:
            block.rejected.append(
                (number, f"{EXTRA_CELLS}: {len(extra)} beyond its {width} columns", extra[0])
            )
        elif short_rows_rejected and len(row) < width:
            # A CSV writer writes every column; fewer cells means a cut or shifted row, whose
            # values cannot be trusted to sit under the right headers.
            block.rejected.append(
                (number, f"{SHORT_ROW}: {len(row)} cells, the header has {width}", None)
            )
        else:
            block.rows.append([*row[:width], *([None] * (width - len(row)))])
            block.row_numbers.append(number)
        if len(block.rows) + len(block.rejected) + block.blank >= block_rows:
            yield block
            block = Block()
    if block:
        yield block


def _cell_text(value: object) -> str | None:
    """A typed XLSX cell as the text a CSV export would hold for it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # 1234567.0 from a numeric reference cell should read "1234567", not "1234567.0".
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)
