"""The zipfile bridge against the installed CPython: an xlsx deflated by ISA-L (fast) and by
zipfile's zlib (plain) holds exactly the same parts, each a valid deflate stream, and reads
back the same."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import polars as pl
import pytest

from conveyor.export_worker.xlsx import XlsxWriter
from conveyor.export_worker.zipfile_bridge import use_isal_deflate
from tests.export.support import read_xlsx

ROWS = 30_000  # a few deflate blocks per sheet, over two sheets
FRAME = pl.DataFrame(
    {
        "award_title": [f"Award {i} & <co> ✓" for i in range(ROWS)],
        "contract_amount": [i * 1.25 for i in range(ROWS)],
        "award_date": [dt.date(2020, 1, 1) + dt.timedelta(days=i % 1000) for i in range(ROWS)],
    }
)


def _workbook(*, fast: bool) -> bytes:
    buffer = io.BytesIO()
    writer = XlsxWriter(buffer, FRAME.schema, max_rows_per_sheet=20_000, fast_deflate=fast)
    for part in FRAME.iter_slices(7_000):
        writer.write(part)
    writer.close()
    return buffer.getvalue()


def test_this_python_s_zip_entries_have_the_compressor_slot() -> None:
    # If CPython renames it, the fast path silently falls back to zlib: fail here instead.
    with zipfile.ZipFile(io.BytesIO(), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("part", "w") as entry:
            assert use_isal_deflate(entry, 1)
            entry.write(b"data" * 1000)
        assert archive.read("part") == b"data" * 1000


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_a_workbook_is_valid_and_reads_back_in_both_modes(fast: bool) -> None:
    data = _workbook(fast=fast)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every entry inflates and matches its CRC
    header, rows = read_xlsx(io.BytesIO(data))  # type: ignore[arg-type]
    assert header == FRAME.columns
    assert len(rows) == ROWS
    assert rows[-1] == (
        "Award 29999 & <co> ✓",
        29999 * 1.25,
        dt.date(2020, 1, 1) + dt.timedelta(days=999),
    )


def test_both_modes_write_the_same_parts() -> None:
    fast, plain = (zipfile.ZipFile(io.BytesIO(_workbook(fast=f))) for f in (True, False))
    assert fast.namelist() == plain.namelist()
    for name in fast.namelist():
        assert fast.read(name) == plain.read(name), name
