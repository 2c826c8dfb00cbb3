"""Streams the rows of award CSV and XLSX files as text, in blocks, with their row numbers."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conveyor.awards.headers import find_header_row

HEADER_SEARCH_ROWS = 20
"""How far down a sheet the header row is looked for."""

DEFAULT_BLOCK_ROWS = 100_000


class UnsupportedFileError(Exception):
    """A file whose type the importer does not read."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: not a .csv or .xlsx file")
        self.path = path


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive data rows of one sheet, padded or cut to the header's width."""

    rows: list[list[str | None]]
    row_numbers: list[int]
    """1-based, counted as a spreadsheet shows them (the header row included)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    """One table of a file: a CSV file, or one worksheet of a workbook."""

    name: str | None
    headers: list[str | None] | None
    """None when no header row was found near the top."""
    blocks: Iterator[Block]


def read_sheets(
    path: str | os.PathLike[str], *, block_rows: int = DEFAULT_BLOCK_ROWS
) -> Iterator[Sheet]:
    """The tables in ``path`` (by extension: .csv, or .xlsx/.xlsm), read lazily.

    Consume each sheet's blocks before asking for the next sheet.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        yield from _csv_sheets(p, block_rows)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_sheets(p, block_rows)
    else:
        raise UnsupportedFileError(p)


def _csv_sheets(path: Path, block_rows: int) -> Iterator[Sheet]:
    # utf-8-sig drops the BOM Excel writes; undecodable bytes (old cp1252 exports) become
    # U+FFFD rather than failing the whole file.
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows: Iterator[list[str | None]] = iter(csv.reader(fh))  # type: ignore[arg-type]
        yield _sheet(None, rows, block_rows)


def _xlsx_sheets(path: Path, block_rows: int) -> Iterator[Sheet]:
    import openpyxl  # type: ignore[import-untyped]

    # read_only streams the sheet XML instead of building every cell; data_only gives the
    # cached values of formula cells.
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for worksheet in workbook.worksheets:
            # The stored dimensions are often wrong (writers that never set them): read all.
            worksheet.reset_dimensions()
            cells = worksheet.iter_rows(min_row=1, values_only=True)
            yield _sheet(
                worksheet.title, ([_cell_text(v) for v in row] for row in cells), block_rows
            )
    finally:
        workbook.close()


def _sheet(name: str | None, rows: Iterator[list[str | None]], block_rows: int) -> Sheet:
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    index = find_header_row(head)
    if index is None:
        return Sheet(name, None, iter(()))
    headers = head[index]
    data = itertools.chain(head[index + 1 :], rows)
    return Sheet(name, headers, _blocks(data, len(headers), index + 2, block_rows))


def _blocks(
    rows: Iterable[Sequence[str | None]], width: int, first_number: int, block_rows: int
) -> Iterator[Block]:
    block: list[list[str | None]] = []
    numbers: list[int] = []
    for number, row in enumerate(rows, start=first_number):
        if not any(cell is not None and cell.strip() for cell in row):
            continue  # blank lines between or after the data are not rows
        if len(row) < width:
            block.append([*row, *([None] * (width - len(row)))])
        else:
            block.append(list(row[:width]))
        numbers.append(number)
        if len(block) >= block_rows:
            yield Block(block, numbers)
            block, numbers = [], []
    if block:
        yield Block(block, numbers)


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
