"""A streaming xlsx writer: each chunk's SpreadsheetML is built by polars, then deflated to a zip.

Why not a library: openpyxl and xlsxwriter build every cell as a Python object (4-6k rows/s);
the Rust-backed writers on PyPI are either not streaming (gigabytes for 1M rows) or cannot
freeze the header and add an autofilter. Here the per-cell work is a handful of vectorised
string expressions run by polars' streaming engine, the rows' XML reaches Python as one bytes
buffer per 10,000 rows, and it is deflated (by ISA-L with ``fast_deflate``, see
``zipfile_bridge``) in a second thread while the next rows are built (both release the GIL).
Measured in ``bench/export_xlsx_writers.py``.

Text cells: see ``xlsx_text`` (Excel's length limit, control characters as ``_xHHHH_``).
The workbook: one or more sheets of at most ``max_rows_per_sheet`` data rows, each with a bold
frozen header row and an autofilter over its data; text as inline strings, numbers as numbers
(``#,##0.00``), dates as date serials with a ``yyyy-mm-dd`` format. An empty result is a sheet
with the header only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO
from xml.sax.saxutils import escape, quoteattr

import polars as pl

from conveyor.export_worker.xlsx_text import prepare_text
from conveyor.export_worker.zipfile_bridge import use_isal_deflate

EXCEL_MAX_ROWS = 1_048_576
"""Rows in an Excel sheet, the header row included."""
MAX_DATA_ROWS_PER_SHEET = EXCEL_MAX_ROWS - 1
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME = "Awards"

_EPOCH_SERIAL = 25_569
"""Excel's serial number of 1970-01-01 (1900 date system)."""
_FIRST_EXACT_DATE = dt.date(1900, 3, 1)
"""Excel counts a 29 February 1900 that never was: serials are only right from here on, so
earlier dates are written as ISO text rather than as a day off."""
_XML_ROWS = 10_000
"""Rows turned into XML at once: about 11 MB of it, of which two are in memory at a time."""
_WIDEST_COLUMN = 60.0
_STYLE_HEADER, _STYLE_DATE, _STYLE_NUMBER = 1, 2, 3
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def column_letter(index: int) -> str:
    """``0`` -> ``A``, ``26`` -> ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class XlsxWriter:
    """Writes polars chunks as rows of an xlsx workbook, in constant memory.

    ``write`` appends a chunk (any length: it is split at sheet boundaries); ``close`` writes
    the workbook's remaining parts. A writer that is not closed leaves an invalid file, which
    the caller deletes.
    """

    def __init__(
        self,
        file: str | IO[bytes],
        schema: pl.Schema,
        *,
        max_rows_per_sheet: int = MAX_DATA_ROWS_PER_SHEET,
        compresslevel: int = 1,
        background: bool = True,
        fast_deflate: bool = True,
    ) -> None:
        if not 1 <= max_rows_per_sheet <= MAX_DATA_ROWS_PER_SHEET:
            raise ValueError(f"max_rows_per_sheet must be from 1 to {MAX_DATA_ROWS_PER_SHEET}")
        self.schema = schema
        self.max_rows_per_sheet = max_rows_per_sheet
        self.rows = 0
        self.truncated_cells = 0
        """Text cells cut at Excel's limit (see ``xlsx_text``)."""
        self._compresslevel = compresslevel
        self._fast_deflate = fast_deflate
        """``Settings.transport == "fast"``: sheets deflated by ISA-L (``zipfile_bridge``)."""
        self._zip = zipfile.ZipFile(
            file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._last_column = column_letter(len(schema) - 1)
        self._widths: list[float] | None = None
        self._sheet: IO[bytes] | None = None
        self._sheet_rows: list[int] = []
        """Data rows written to each sheet so far."""
        # One thread deflates chunk n while the caller builds chunk n+1's XML (both release
        # the GIL); at most one chunk waits, so memory stays at about two chunks of XML.
        self._deflater = ThreadPoolExecutor(1, "xlsx-deflate") if background else None
        self._pending: Future[int] | None = None

    def write(self, chunk: pl.DataFrame) -> None:
        """Append ``chunk``'s rows (its columns must be the schema's, in order)."""
        if self._widths is None:
            self._widths = _column_widths(chunk, self.schema)
        offset = 0
        while offset < chunk.height:
            if self._sheet is None or self._sheet_rows[-1] == self.max_rows_per_sheet:
                self._start_sheet()
            room = self.max_rows_per_sheet - self._sheet_rows[-1]
            part = chunk.slice(offset, min(room, _XML_ROWS))
            self._write_rows(part, first_row=self._sheet_rows[-1] + 2)
            self._sheet_rows[-1] += part.height
            self.rows += part.height
            offset += part.height

    def close(self) -> None:
        """Finish the last sheet and write the workbook's parts (an empty result: header only)."""
        if self._sheet is None:
            self._widths = self._widths or _column_widths(self.schema.to_frame(), self.schema)
            self._start_sheet()
        self._end_sheet()
        sheets = len(self._sheet_rows)
        self._zip.writestr("[Content_Types].xml", _content_types(sheets))
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("xl/workbook.xml", self._workbook())
        self._zip.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(sheets))
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.close()
        self._stop_deflater()

    def abort(self) -> None:
        """Stop writing (the file is left invalid; the caller removes it)."""
        # The error being handled is the caller's; a deflate error behind it adds nothing.
        with contextlib.suppress(Exception):
            self._wait()
        self._stop_deflater()
        if self._sheet is not None:
            self._sheet.close()
            self._sheet = None
        self._zip.close()

    def _emit(self, data: bytes | memoryview) -> None:
        self._wait()
        assert self._sheet is not None
        if self._deflater is None:
            self._sheet.write(data)
        else:
            self._pending = self._deflater.submit(self._sheet.write, data)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _stop_deflater(self) -> None:
        if self._deflater is not None:
            self._deflater.shutdown()

    # -- sheets ----------------------------------------------------------------------------

    def _sheet_name(self, index: int) -> str:
        return SHEET_NAME if index == 0 else f"{SHEET_NAME} {index + 1}"

    def _start_sheet(self) -> None:
        if self._sheet is not None:
            self._end_sheet()
        index = len(self._sheet_rows)
        self._sheet_rows.append(0)
        # Entries are streamed, so their size is unknown up front: zip64 headers always.
        self._sheet = self._zip.open(f"xl/worksheets/sheet{index + 1}.xml", "w", force_zip64=True)
        if self._fast_deflate:
            use_isal_deflate(self._sheet, self._compresslevel)
        assert self._widths is not None
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w:.1f}" customWidth="1"/>'
            for i, w in enumerate(self._widths, start=1)
        )
        header = "".join(
            f'<c r="{column_letter(i)}1" s="{_STYLE_HEADER}" t="inlineStr"><is><t>{escape(name)}'
            "</t></is></c>"
            for i, name in enumerate(self.schema)
        )
        selected = ' tabSelected="1"' if index == 0 else ""
        self._emit(
            (
                f'{_XML_DECL}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                f'<sheetViews><sheetView workbookViewId="0"{selected}>'
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
                "</sheetView></sheetViews>"
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols>'
                f'<sheetData><row r="1">{header}</row>'
            ).encode()
        )

    def _end_sheet(self) -> None:
        assert self._sheet is not None
        self._emit(f'</sheetData><autoFilter ref="{self._filter_range(-1)}"/></worksheet>'.encode())
        self._wait()
        self._sheet.close()
        self._sheet = None

    def _filter_range(self, sheet: int, absolute: bool = False) -> str:
        last_row = self._sheet_rows[sheet] + 1
        if absolute:
            return f"$A$1:${self._last_column}${last_row}"
        return f"A1:{self._last_column}{last_row}"

    def _write_rows(self, chunk: pl.DataFrame, *, first_row: int) -> None:
        row = "\0row"
        pieces: list[pl.Expr] = [pl.lit('<row r="'), pl.col(row), pl.lit('">')]
        for index, (name, dtype) in enumerate(self.schema.items()):
            pieces.append(_cell(name, dtype, column_letter(index), pl.col(row)))
        pieces.append(pl.lit("</row>"))
        # Two steps, so that each escaped text is computed once; the streaming engine spreads
        # the work over every core.
        text = prepare_text(chunk)
        self.truncated_cells += text.truncated_cells
        xml = (
            text.frame.with_row_index(row, offset=first_row)
            .lazy()
            .with_columns(*text.columns, pl.col(row).cast(pl.String))
            .select(pl.concat_str(pieces))
            .collect(engine="streaming")
        )
        # The rows' XML reaches Python as one bytes buffer, never as str objects.
        buffer = io.BytesIO()
        xml.write_csv(buffer, include_header=False, quote_style="never", line_terminator="")
        self._emit(buffer.getbuffer())

    def _workbook(self) -> str:
        sheets, names = [], []
        for i in range(len(self._sheet_rows)):
            name = self._sheet_name(i)
            sheets.append(f'<sheet name={quoteattr(name)} sheetId="{i + 1}" r:id="rId{i + 1}"/>')
            names.append(
                f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                f"{escape(_quote_sheet(name))}!{self._filter_range(i, absolute=True)}"
                "</definedName>"
            )
        return (
            f'{_XML_DECL}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            "<bookViews><workbookView/></bookViews>"
            f"<sheets>{''.join(sheets)}</sheets><definedNames>{''.join(names)}</definedNames>"
            "</workbook>"
        )


def _cell(name: str, dtype: pl.DataType, letter: str, row: pl.Expr) -> pl.Expr:
    """The XML of one column's cells (after ``prepare_text``); a null or NaN is no cell at all."""
    column = pl.col(name)
    ref = [pl.lit(f'<c r="{letter}'), row]
    if dtype.is_numeric():
        value = pl.when(column.is_finite()).then(column) if dtype.is_float() else column
        return pl.concat_str(
            [*ref, pl.lit(f'" s="{_STYLE_NUMBER}"><v>'), value.cast(pl.String), pl.lit("</v></c>")]
        ).fill_null("")
    if dtype == pl.Date:
        serial = column.cast(pl.Int32) + _EPOCH_SERIAL
        number = pl.concat_str(
            [*ref, pl.lit(f'" s="{_STYLE_DATE}"><v>'), serial.cast(pl.String), pl.lit("</v></c>")]
        )
        text = _text_cell(column.cast(pl.String), pl.lit("<t>"), ref)
        return pl.when(column >= _FIRST_EXACT_DATE).then(number).otherwise(text).fill_null("")
    if dtype == pl.String:
        opening = (
            pl.when(pl.col(f"{name}\0ws"))
            .then(pl.lit('<t xml:space="preserve">'))
            .otherwise(pl.lit("<t>"))
        )
        return _text_cell(column, opening, ref).fill_null("")
    return _text_cell(
        column.cast(pl.String).str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"]),
        pl.lit("<t>"),
        ref,
    ).fill_null("")


def _text_cell(escaped: pl.Expr, opening: pl.Expr, ref: Sequence[pl.Expr]) -> pl.Expr:
    return pl.concat_str(
        [*ref, pl.lit('" t="inlineStr"><is>'), opening, escaped, pl.lit("</t></is></c>")]
    )


def _column_widths(sample: pl.DataFrame, schema: pl.Schema) -> list[float]:
    """Widths in characters: the header's, or most values' (from the first chunk) if wider."""
    widths = []
    for name, dtype in schema.items():
        if dtype == pl.Date:
            content = 10.0
        elif dtype.is_numeric():
            content = 16.0
        elif sample.height:
            lengths = sample.get_column(name).cast(pl.String).str.len_chars()
            content = float(lengths.quantile(0.9) or 0)
        else:
            content = 0.0
        widths.append(min(_WIDEST_COLUMN, max(len(name), content) + 2))
    return widths


def _quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _content_types(sheets: int) -> str:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        f"{_XML_DECL}"
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>"
    )


def _workbook_rels(sheets: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, sheets + 1)
    )
    return (
        f"{_XML_DECL}"
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'{rels}<Relationship Id="rId{sheets + 1}" Type="{_DOC_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )


_ROOT_RELS = (
    f"{_XML_DECL}"
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)

_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
_STYLES = (
    f'{_XML_DECL}<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
