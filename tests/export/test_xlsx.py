"""The streaming xlsx writer (conveyor.export_worker.xlsx), read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from conveyor.export_worker.xlsx import MAX_DATA_ROWS_PER_SHEET, XlsxWriter, column_letter
from conveyor.export_worker.xlsx_text import MAX_CELL_CHARS
from tests.export.support import read_xlsx

FRAME = pl.DataFrame(
    {
        "award_title": ["Roads & <bridges>", "  padded  ", None, 'Say "hi"', "Ñiño ü 中文 ✓"],
        "contract_amount": [1234.5, 1e20, None, 0.1, 7.0],
        "award_date": [
            dt.date(2024, 2, 29),
            None,
            dt.date(2013, 1, 1),
            dt.date(1899, 12, 31),
            None,
        ],
    },
    schema={"award_title": pl.String, "contract_amount": pl.Float64, "award_date": pl.Date},
)


def write(path: Path, frame: pl.DataFrame, *, chunk: int = 2, **options: int) -> XlsxWriter:
    writer = XlsxWriter(str(path), frame.schema, **options)
    for part in frame.iter_slices(chunk):
        writer.write(part)
    writer.close()
    return writer


def test_column_letters_run_from_a_to_z_then_aa() -> None:
    assert [column_letter(i) for i in (0, 16, 25, 26, 27, 701, 702)] == [
        "A",
        "Q",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


def test_values_read_back_typed_with_a_bold_frozen_filtered_header(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write(path, FRAME)
    header, rows = read_xlsx(path)
    assert header == FRAME.columns
    assert rows == [
        ("Roads & <bridges>", 1234.5, dt.date(2024, 2, 29)),
        ("  padded  ", 1e20, None),
        (None, None, dt.date(2013, 1, 1)),
        ('Say "hi"', 0.1, "1899-12-31"),  # before Excel's exact date serials: ISO text
        ("Ñiño ü 中文 ✓", 7.0, None),
    ]
    ws = load_workbook(path).active
    assert ws is not None
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C6"
    assert all(cell.font.b for cell in ws[1])
    assert ws["C2"].is_date and ws["C2"].number_format == "yyyy-mm-dd"
    assert isinstance(ws["B2"].value, float) and ws["B2"].number_format == "#,##0.00"
    assert 10 <= ws.column_dimensions["A"].width <= 60


def test_an_empty_result_is_a_valid_workbook_with_the_header_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    write(path, FRAME.clear())
    header, rows = read_xlsx(path)
    assert header == FRAME.columns
    assert rows == []
    ws = load_workbook(path).active
    assert ws is not None
    assert ws.auto_filter.ref == "A1:C1"


def test_rows_past_the_sheet_limit_continue_on_a_new_sheet_with_the_header(
    tmp_path: Path,
) -> None:
    frame = pl.DataFrame({"n": list(range(10)), "s": [f"row {i}" for i in range(10)]})
    path = tmp_path / "sheets.xlsx"
    # Chunks of 3 against sheets of 4: chunks are split at the sheet boundary.
    write(path, frame, chunk=3, max_rows_per_sheet=4)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Awards", "Awards 2", "Awards 3"]
    sheets = [list(ws.iter_rows(values_only=True)) for ws in wb.worksheets]
    assert [len(rows) for rows in sheets] == [5, 5, 3]
    assert all(rows[0] == ("n", "s") for rows in sheets)
    assert [row for rows in sheets for row in rows[1:]] == list(frame.iter_rows())
    assert [ws.auto_filter.ref for ws in wb.worksheets] == ["A1:B5", "A1:B5", "A1:B3"]
    assert all(ws.freeze_panes == "A2" for ws in wb.worksheets)


def test_control_characters_are_escaped_and_long_text_cut_and_counted(tmp_path: Path) -> None:
    frame = pl.DataFrame({"s": ["bell\x07 and nul\x00", "x" * (MAX_CELL_CHARS + 10), "y"]})
    path = tmp_path / "odd.xlsx"
    writer = write(path, frame)
    _, rows = read_xlsx(path)
    assert rows == [("bell\x07 and nul\x00",), ("x" * MAX_CELL_CHARS,), ("y",)]
    assert writer.truncated_cells == 1


def test_the_workbook_streams_to_a_file_object(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    writer = XlsxWriter(buffer, FRAME.schema)
    writer.write(FRAME)
    writer.close()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert archive.testzip() is None
        assert "xl/worksheets/sheet1.xml" in archive.namelist()


def test_a_sheet_limit_beyond_excel_is_refused() -> None:
    with pytest.raises(ValueError, match="max_rows_per_sheet"):
        XlsxWriter(io.BytesIO(), FRAME.schema, max_rows_per_sheet=1_048_576)


@pytest.mark.slow
def test_a_full_excel_sheet_continues_on_a_second_sheet(tmp_path: Path) -> None:
    rows = MAX_DATA_ROWS_PER_SHEET + 3
    frame = pl.DataFrame({"n": pl.int_range(rows, eager=True, dtype=pl.Int64)})
    path = tmp_path / "full.xlsx"
    write(path, frame, chunk=200_000)
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Awards", "Awards 2"]
    first = wb.worksheets[0].iter_rows(values_only=True)
    assert next(first) == ("n",)
    count, last = 0, None
    for row in first:
        count += 1
        last = row[0]
    assert (count, last) == (MAX_DATA_ROWS_PER_SHEET, MAX_DATA_ROWS_PER_SHEET - 1)
    second = list(wb.worksheets[1].iter_rows(values_only=True))
    assert second == [("n",), *((n,) for n in range(MAX_DATA_ROWS_PER_SHEET, rows))]
    wb.close()
