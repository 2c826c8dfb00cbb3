"""Reading exports back, and the export's filter and sort computed independently in plain Python."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape

from conveyor.awards.schema import DATE_COLUMNS, MONEY_COLUMNS, dataset_files
from conveyor.contracts.jobs import AWARD_COLUMNS, ExportRequest
from conveyor.export_worker.csv_formulas import restore_formulas
from tests.support import folding

Row = tuple[Any, ...]


def read_xlsx(path: Path) -> tuple[list[str], list[Row]]:
    """Header and data rows of every sheet (each sheet must repeat the header); dates as dates.

    openpyxl hands over text as written: its ``_xHHHH_`` escapes are decoded here, as the
    spec says and as Excel and LibreOffice do.
    """
    wb = load_workbook(path, read_only=True)
    header: list[str] | None = None
    rows: list[Row] = []
    for ws in wb.worksheets:
        sheet = ws.iter_rows(values_only=True)
        first = [str(v) for v in next(sheet)]
        assert header is None or first == header, "every sheet repeats the header"
        header = first
        for row in sheet:
            # Read-only openpyxl ends a row at its last cell; null values are no cell at all.
            padded = (*row, *[None] * (len(first) - len(row)))
            rows.append(tuple(_xlsx_value(v) for v in padded))
    wb.close()
    assert header is not None
    return header, rows


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    return unescape(value) if isinstance(value, str) else value


def read_csv(path: Path, *, neutralised: bool = True) -> tuple[list[str], list[Row]]:
    """Header and rows, typed back by column name (an empty field is null); text that formula
    neutralisation prefixed (the default) is restored."""
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        header = next(reader)
        rows = [
            tuple(_typed(name, v, neutralised) for name, v in zip(header, row, strict=True))
            for row in reader
        ]
    return header, rows


def read_parquet(path: Path) -> tuple[list[str], list[Row]]:
    frame = pl.read_parquet(path)
    return frame.columns, list(frame.iter_rows())


READERS = {"xlsx": read_xlsx, "csv": read_csv, "parquet": read_parquet}


def _typed(name: str, value: str, neutralised: bool = False) -> Any:
    if value == "":
        return None
    if name in MONEY_COLUMNS:
        return float(value)
    if name in DATE_COLUMNS:
        return dt.date.fromisoformat(value)
    return restore_formulas(value) if neutralised else value


def dataset_rows(directory: Path) -> list[dict[str, Any]]:
    """Every award of the dataset, in dataset order, as plain dicts."""
    rows: list[dict[str, Any]] = []
    for file in dataset_files(directory):
        rows.extend(pl.read_parquet(file).to_dicts())
    return rows


def expected_export(directory: Path, request: ExportRequest) -> tuple[list[str], list[Row]]:
    """What the export must contain, computed in plain Python from the filters' documentation."""
    f = request.filters
    keywords = folding.terms(f.keywords)

    def passes(r: dict[str, Any]) -> bool:
        checks = [
            not f.contractors or r["awardee_name"] in f.contractors,
            not f.organizations or r["procuring_entity"] in f.organizations,
            not f.business_categories or r["business_category"] in f.business_categories,
            not f.areas or r["area_of_delivery"] in f.areas or r["region"] in f.areas,
            folding.matches(r, keywords, _KEYWORD_COLUMNS),
            not f.time_ranges
            or (
                r["award_date"] is not None
                and any(t.start <= r["award_date"] <= t.end for t in f.time_ranges)
            ),
        ]
        if f.value_range is not None:
            amount = r["contract_amount"]
            low, high = f.value_range.min, f.value_range.max
            checks.append(
                (low is None and high is None)
                or (
                    amount is not None
                    and (low is None or amount >= low)
                    and (high is None or amount <= high)
                )
            )
        return all(checks)

    rows = [r for r in dataset_rows(directory) if passes(r)]
    if request.sort:
        keys = [(k.column, k.descending) for k in request.sort]
        if "award_reference_no" not in [c for c, _ in keys]:
            keys.append(("award_reference_no", False))
        rows = _sorted(rows, keys)
    columns = list(dict.fromkeys(request.columns or AWARD_COLUMNS))
    return columns, [tuple(r[c] for c in columns) for r in rows]


_KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")


def _sorted(rows: list[dict[str, Any]], keys: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    # Stable sorts from the last key to the first; nulls last whatever the direction.
    for column, descending in reversed(keys):
        present = [r for r in rows if r[column] is not None]
        missing = [r for r in rows if r[column] is None]
        present.sort(key=lambda r: r[column], reverse=descending)
        rows = present + missing
    return rows
