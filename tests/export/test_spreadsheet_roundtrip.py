"""Exports of awards with hostile text, read back by openpyxl and LibreOffice, cell by cell.

One dataset whose text holds formulas, control characters, carriage returns, literal
``_xHHHH_`` runs and text longer than an Excel cell is exported as xlsx and as CSV (with and
without formula neutralisation). The CSV without neutralisation must equal the dataset; the
neutralised one must start no cell with a formula and read back to the same after dropping
the prefix; the xlsx, read by openpyxl and by LibreOffice Calc (headless), must hold the same
cells, the over-long ones cut at Excel's limit and counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATE_COLUMNS, MONEY_COLUMNS, data_file_name
from conveyor.contracts.jobs import AwardFilters, ExportFormat
from conveyor.export_worker.csv_formulas import FORMULA_TRIGGERS, restore_formulas
from conveyor.export_worker.export import Written, build_query, write_export
from tests.export.support import Row, dataset_rows, read_csv, read_xlsx

SOFFICE = shutil.which("soffice") or "/usr/bin/soffice"
EXCEL_CELL = 32_767

HOSTILE = [
    '=HYPERLINK("http://evil.example/","click me")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\tstarts with a tab",
    "\rstarts with a carriage return",
    "line\r\nbreak",
    "lone\rcarriage return",
    "line\nfeed",
    "bell\x07 vertical\x0b form\x0c unit\x1f nul\x00 end",
    "literal _x000D_ and _x005F_ and _X0041_ and _x12",
    "_xABCD\r",  # would read as U+ABCD if the carriage return's escape followed it unguarded
    "tab\tinside",
    "  padded  ",
    "Ñiño ü 中文 😀",
    "&<>\"' and ]]>",
    "'quoted already",
    "-",
    "x" * 40_000,
    "y" * (EXCEL_CELL - 1) + "😀 straddles the limit",
    "z" * EXCEL_CELL,  # exactly the limit: kept whole
]
TEXT_COLUMNS = ("award_title", "notice_title", "awardee_name")


@pytest.fixture(scope="module")
def hostile_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated awards with the hostile texts spread over three columns, some amounts
    negative and a few dates before Excel's exact date serials."""
    directory = tmp_path_factory.mktemp("hostile")
    generate(3 * len(HOSTILE) + 20, directory, seed=5, chunk_rows=10_000)
    files = list(directory.iterdir())
    frame = pl.read_parquet(files)
    for file in files:
        file.unlink()
    n = frame.height
    frame = frame.with_columns(
        *(
            pl.Series(
                column,
                [
                    HOSTILE[(i + k) % len(HOSTILE)] if i < 3 * len(HOSTILE) else v
                    for i, v in enumerate(frame.get_column(column).to_list())
                ],
                dtype=pl.String,
            )
            for k, column in enumerate(TEXT_COLUMNS)
        ),
        pl.when(pl.int_range(n) % 3 == 0)
        .then(-pl.col("contract_amount"))
        .otherwise(pl.col("contract_amount"))
        .alias("contract_amount"),
        pl.when(pl.int_range(n) == 4)
        .then(pl.lit(dt.date(1899, 12, 31)))
        .otherwise(pl.col("award_date"))
        .alias("award_date"),
    )
    frame.write_parquet(directory / data_file_name(0))
    return directory


def export(dataset: Path, format: ExportFormat, out: Path, **options: Any) -> Written:
    query = build_query(dataset, AwardFilters())
    return write_export(
        query,
        format,
        out,
        cancelled=threading.Event(),
        progress=lambda done, total: None,
        chunk_rows=17,  # many chunks: the per-chunk checks see columns with and without
        **options,
    )


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut_at_excel_limit(value: Any) -> Any:
    """What an Excel cell can hold of ``value`` (written independently of the exporter)."""
    if not isinstance(value, str) or utf16_units(value) <= EXCEL_CELL:
        return value
    kept = ""
    for char in value:
        if utf16_units(kept + char) > EXCEL_CELL:
            return kept
        kept += char
    return kept


def expected_rows(dataset: Path) -> tuple[list[str], list[Row]]:
    rows = dataset_rows(dataset)
    return list(rows[0]), [tuple(r.values()) for r in rows]


def test_csv_without_neutralisation_holds_every_cell_as_it_is(
    hostile_dataset: Path, tmp_path: Path
) -> None:
    export(hostile_dataset, "csv", tmp_path / "raw.csv", neutralise_formulas=False)
    assert read_csv(tmp_path / "raw.csv", neutralised=False) == expected_rows(hostile_dataset)


def test_neutralised_csv_starts_no_text_cell_with_a_formula_and_keeps_numbers_numbers(
    hostile_dataset: Path, tmp_path: Path
) -> None:
    export(hostile_dataset, "csv", tmp_path / "safe.csv")
    header, expected = expected_rows(hostile_dataset)
    with (tmp_path / "safe.csv").open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        assert next(reader) == header
        raw = list(reader)
    text_at = [i for i, name in enumerate(header) if name not in (*MONEY_COLUMNS, *DATE_COLUMNS)]
    money_at = [header.index(name) for name in MONEY_COLUMNS]
    prefixed = 0
    for row in raw:
        assert all(not row[i].startswith(FORMULA_TRIGGERS) for i in text_at), row
        prefixed += sum(row[i] != restore_formulas(row[i]) for i in text_at)
        # Amounts are numbers: a negative one keeps its minus sign and parses.
        assert all(row[i] == "" or float(row[i]) == float(row[i]) for i in money_at)
    # Seven of HOSTILE start with a trigger; three columns hold HOSTILE three times each.
    assert prefixed == 3 * 3 * 7
    assert any(row[money_at[1]].startswith("-") for row in raw)

    def restored(name: str, value: str) -> str:
        return value if name in (*MONEY_COLUMNS, *DATE_COLUMNS) else restore_formulas(value)

    unprefixed = tmp_path / "restored.csv"
    with unprefixed.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows([restored(n, v) for n, v in zip(header, row, strict=True)] for row in raw)
    assert read_csv(unprefixed, neutralised=False) == (header, expected)
    assert read_csv(tmp_path / "safe.csv") == (header, expected)  # the readers' own restoring


def test_xlsx_read_by_openpyxl_matches_the_csv_with_long_text_cut_and_counted(
    hostile_dataset: Path, tmp_path: Path
) -> None:
    written = export(hostile_dataset, "xlsx", tmp_path / "out.xlsx", max_rows_per_sheet=40)
    export(hostile_dataset, "csv", tmp_path / "raw.csv", neutralise_formulas=False)
    header, rows = read_csv(tmp_path / "raw.csv", neutralised=False)
    expected = [tuple(xlsx_cell(v) for v in row) for row in rows]
    assert read_xlsx(tmp_path / "out.xlsx") == (header, expected)
    long_cells = sum(utf16_units(v) > EXCEL_CELL for row in rows for v in row if isinstance(v, str))
    # Two of HOSTILE are too long; each column holds HOSTILE three times.
    assert written.truncated_cells == long_cells == 3 * 3 * 2


def xlsx_cell(value: Any) -> Any:
    """A CSV value as the xlsx holds it: text cut at Excel's limit, dates before Excel's exact
    serials as ISO text."""
    if isinstance(value, dt.date) and value < dt.date(1900, 3, 1):
        return value.isoformat()
    return cut_at_excel_limit(value)


def test_xlsx_read_by_libreoffice_matches_the_csv(hostile_dataset: Path, tmp_path: Path) -> None:
    if not Path(SOFFICE).exists():
        pytest.fail("LibreOffice Calc is needed: apt-get install -y libreoffice-calc-nogui")
    export(hostile_dataset, "xlsx", tmp_path / "awards.xlsx", max_rows_per_sheet=40)
    export(hostile_dataset, "csv", tmp_path / "raw.csv", neutralise_formulas=False)
    header, rows = read_csv(tmp_path / "raw.csv", neutralised=False)
    out = tmp_path / "libreoffice"
    # Field options: comma, double quotes, UTF-8, from line 1, raw values (not as shown),
    # every sheet to its own file (-1).
    options = "44,34,76,1,,0,false,true,false,false,false,-1"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",  # its own profile
            "--headless",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{options}",
            "--outdir",
            str(out),
            str(tmp_path / "awards.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    sheets = sorted(out.glob("awards-*.csv"), key=lambda p: (len(p.name), p.name))
    names = ["Awards", *(f"Awards {i}" for i in range(2, -(-len(rows) // 40) + 1))]
    assert [p.name for p in sheets] == [f"awards-{name}.csv" for name in names]
    read: list[Row] = []
    for sheet in sheets:
        sheet_header, sheet_rows = read_csv(sheet, neutralised=False)
        assert sheet_header == header
        read.extend(sheet_rows)
    # Calc keeps a line break as a line feed alone: a CR LF in a cell loads as LF (a lone CR
    # is kept), so the comparison does the same.
    expected = [
        tuple(cut_at_excel_limit(v).replace("\r\n", "\n") if isinstance(v, str) else v for v in row)
        for row in rows
    ]
    assert read == expected
