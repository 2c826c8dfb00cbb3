"""Writing one export (conveyor.export_worker.export): contents, order, and no file unless done."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from conveyor.awards.generator import generate
from conveyor.contracts.jobs import (
    AWARD_COLUMNS,
    AwardFilters,
    DateRange,
    ExportFormat,
    ExportRequest,
    SortKey,
    ValueRange,
)
from conveyor.export_worker.errors import DatasetMissingError, ExportCancelledError
from conveyor.export_worker.export import Written, build_query, write_export
from tests.export.support import READERS, dataset_rows, expected_export

FORMATS: list[ExportFormat] = ["xlsx", "csv", "parquet"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("awards")
    generate(3000, directory, seed=11, chunk_rows=1000)
    return directory


def export(
    dataset: Path, request: ExportRequest, out: Path, chunk_rows: int = 250, **kwargs: object
) -> Written:
    query = build_query(dataset, request.filters, request.columns, request.sort)
    options = {"cancelled": threading.Event(), "progress": lambda done, total: None, **kwargs}
    return write_export(query, request.format, out, chunk_rows=chunk_rows, **options)  # type: ignore[arg-type]


def some_filters(dataset: Path) -> AwardFilters:
    """Filters that match a few hundred of the generated rows, built from the data itself."""
    rows = dataset_rows(dataset)
    regions = sorted({r["region"] for r in rows})[:6]
    return AwardFilters(
        areas=regions,
        time_ranges=[
            DateRange(start=dt.date(2014, 1, 1), end=dt.date(2017, 6, 30)),
            DateRange(start=dt.date(2021, 1, 1), end=dt.date(2023, 12, 31)),
        ],
        value_range=ValueRange(min=10_000),
    )


@pytest.mark.parametrize("format", FORMATS)
def test_an_export_holds_exactly_the_filtered_rows_in_dataset_order(
    dataset: Path, tmp_path: Path, format: ExportFormat
) -> None:
    request = ExportRequest(filters=some_filters(dataset), format=format)
    out = tmp_path / f"out.{format}"
    written = export(dataset, request, out)
    columns, expected = expected_export(dataset, request)
    assert 100 < len(expected) < 3000
    assert READERS[format](out) == (columns, expected)
    assert written.rows == len(expected)
    assert written.size_bytes == out.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("format", FORMATS)
def test_columns_and_sort_are_honoured(dataset: Path, tmp_path: Path, format: ExportFormat) -> None:
    request = ExportRequest(
        filters=AwardFilters(value_range=ValueRange(max=500_000)),
        format=format,
        columns=["contract_amount", "award_title", "award_date", "business_category"],
        sort=[
            SortKey(column="business_category"),
            SortKey(column="award_date", descending=True),
        ],
    )
    out = tmp_path / f"sorted.{format}"
    export(dataset, request, out)
    assert READERS[format](out) == expected_export(dataset, request)


@pytest.mark.parametrize("format", FORMATS)
def test_an_empty_result_is_a_file_with_the_header_only(
    dataset: Path, tmp_path: Path, format: ExportFormat
) -> None:
    request = ExportRequest(filters=AwardFilters(contractors=["nobody at all"]), format=format)
    out = tmp_path / f"empty.{format}"
    written = export(dataset, request, out)
    assert written.rows == 0
    header, rows = READERS[format](out)
    assert rows == []
    assert header == expected_export(dataset, request)[0]


@pytest.mark.parametrize("format", FORMATS)
def test_a_cancelled_export_leaves_no_file(
    dataset: Path, tmp_path: Path, format: ExportFormat
) -> None:
    cancelled = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 500:
            cancelled.set()

    out = tmp_path / f"cancelled.{format}"
    with pytest.raises(ExportCancelledError) as caught:
        export(
            dataset,
            ExportRequest(format=format),
            out,
            chunk_rows=250,
            cancelled=cancelled,
            progress=progress,
        )
    assert 500 <= caught.value.rows_written < 3000
    assert seen[0] == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("format", FORMATS)
def test_a_failing_export_leaves_no_file(
    dataset: Path, tmp_path: Path, format: ExportFormat
) -> None:
    def progress(done: int, total: int) -> None:
        if done > 0:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        export(dataset, ExportRequest(format=format), tmp_path / f"x.{format}", progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_progress_counts_every_row_against_the_total(dataset: Path, tmp_path: Path) -> None:
    reports: list[tuple[int, int]] = []
    export(
        dataset,
        ExportRequest(format="xlsx"),
        tmp_path / "all.xlsx",
        progress=lambda done, total: reports.append((done, total)),
    )
    assert reports[0] == (0, 3000)
    assert reports[-1] == (3000, 3000)
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)
    assert len(reports) >= 3000 // 250


@pytest.mark.parametrize("format", FORMATS)
def test_an_empty_dataset_exports_the_header_only(tmp_path: Path, format: ExportFormat) -> None:
    (tmp_path / "awards").mkdir()
    out = tmp_path / f"empty.{format}"
    written = export(tmp_path / "awards", ExportRequest(format=format), out)
    assert written.rows == 0
    assert READERS[format](out) == (list(AWARD_COLUMNS), [])


def test_a_missing_dataset_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError) as caught:
        build_query(tmp_path / "nowhere", AwardFilters())
    assert caught.value.directory == tmp_path / "nowhere"
