"""Reference columns held as numbers come back as the exact texts, and sort like them."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from conveyor.aggregates_worker.hot_table import load_hot_table
from conveyor.aggregates_worker.references import ReferenceCode, finish, prefix_of
from conveyor.aggregates_worker.search import search_awards
from conveyor.awards.schema import conform, data_file_name
from conveyor.contracts.jobs import SearchRequest, SortKey
from tests.aggregates import oracle


def roundtrip(code: ReferenceCode, values: list[str | None]) -> tuple[bool, list[str | None]]:
    frame = pl.DataFrame({code.column: values}, schema={code.column: pl.String})
    fits = frame.select(code.fits()).item()
    return fits, frame.select(code.encode()).select(code.decode()).to_series().to_list()


def test_references_come_back_with_their_leading_zeros_and_nulls() -> None:
    values = ["AWD-0000000001", "AWD-9", None, "AWD-000", "AWD-123456789012345678"]
    assert prefix_of("AWD-0012") == "AWD-"
    assert roundtrip(ReferenceCode("r", "AWD-"), values) == (True, values)
    assert roundtrip(ReferenceCode("r", ""), ["00123", "7"]) == (True, ["00123", "7"])


@pytest.mark.parametrize(
    "value",
    ["AWX-12", "AWD-", "AWD-+12", "AWD-12a", "AWD- 12", "AWD-١٢", "AWD-1234567890123456789"],
)
def test_a_value_that_is_not_the_prefix_and_digits_does_not_fit(value: str) -> None:
    fits, _ = roundtrip(ReferenceCode("r", "AWD-"), ["AWD-01", value])
    assert not fits


def test_numbers_narrow_when_they_fit_and_know_whether_they_sort_like_the_texts() -> None:
    code = ReferenceCode("r", "B")
    frame = pl.DataFrame({"r": ["B10", "B99", None]}).select(code.encode())
    same_width, narrow = finish(code, frame.to_series())
    assert (same_width.ordered, narrow.dtype, narrow.n_chunks()) == (True, pl.UInt32, 1)
    frame = pl.DataFrame({"r": ["B10", "B9", "B12345678901"]}).select(code.encode())
    mixed, wide = finish(code, frame.to_series())
    assert (mixed.ordered, wide.dtype) == (False, pl.UInt64)


ROWS = [
    # Bid references of several widths: as numbers they would sort 9 < 10, as texts "10" < "9".
    {"award_reference_no": "R-0007", "bid_reference_no": "B9", "award_title": "Supply A"},
    {"award_reference_no": "R-0012", "bid_reference_no": "B10", "award_title": "Supply B"},
    {"award_reference_no": "R-0003", "bid_reference_no": None, "award_title": "Supply C"},
    {"award_reference_no": "R-0100", "bid_reference_no": "B0095", "award_title": "Supply D"},
    {"award_reference_no": "R-0001", "bid_reference_no": "B10", "award_title": "Supply E"},
]


@pytest.fixture(scope="module")
def references_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("references") / "awards"
    directory.mkdir()
    conform(pl.DataFrame(ROWS[:3])).write_parquet(directory / data_file_name(0))
    conform(pl.DataFrame(ROWS[3:])).write_parquet(directory / data_file_name(1))
    return directory


@pytest.mark.parametrize(
    "sort",
    [
        [],
        [SortKey(column="bid_reference_no")],
        [SortKey(column="bid_reference_no", descending=True)],
    ],
)
def test_a_table_holds_references_as_numbers_and_pages_them_as_texts(
    references_dir: Path, sort: list[SortKey]
) -> None:
    table = load_hot_table(references_dir)
    assert set(table.references) == {"award_reference_no", "bid_reference_no"}
    assert table.frame.schema["award_reference_no"] == pl.UInt32
    assert not table.references["bid_reference_no"].ordered
    request = SearchRequest(query="supply", sort=sort)
    got = search_awards(table, request, cancelled=threading.Event(), progress=lambda *a: None)
    total, references = oracle.search(references_dir, request)
    assert (got.total, [a.award_reference_no for a in got.awards]) == (total, references)
    bids = {r["award_reference_no"]: r["bid_reference_no"] for r in ROWS}
    assert {a.award_reference_no: a.bid_reference_no for a in got.awards} == bids


def test_a_column_that_stops_fitting_in_a_later_file_stays_text(tmp_path: Path) -> None:
    directory = tmp_path / "awards"
    directory.mkdir()
    rows = [
        {"award_reference_no": "X", "bid_reference_no": "B-01", "award_title": "Supply A"},
        {"award_reference_no": "Y", "bid_reference_no": "B-02", "award_title": "Supply B"},
        {"award_reference_no": "Z", "bid_reference_no": "B-3a", "award_title": "Supply C"},
    ]
    conform(pl.DataFrame(rows[:2])).write_parquet(directory / data_file_name(0))
    conform(pl.DataFrame(rows[2:])).write_parquet(directory / data_file_name(1))
    table = load_hot_table(directory)
    assert table.references == {}
    assert table.frame.schema["bid_reference_no"] == pl.String
    request = SearchRequest(query="supply", sort=[SortKey(column="bid_reference_no")])
    got = search_awards(table, request, cancelled=threading.Event(), progress=lambda *a: None)
    assert [(a.award_reference_no, a.bid_reference_no) for a in got.awards] == [
        ("X", "B-01"),
        ("Y", "B-02"),
        ("Z", "B-3a"),
    ]
