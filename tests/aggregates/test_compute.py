"""The aggregate set and search over the in-memory table equal an independent computation."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from conveyor.aggregates_worker import search
from conveyor.aggregates_worker.aggregates import compute_aggregates
from conveyor.aggregates_worker.errors import ComputationCancelledError
from conveyor.aggregates_worker.hot_table import CATEGORICAL_COLUMNS, HotTable, load_hot_table
from conveyor.aggregates_worker.search import query_terms, search_awards
from conveyor.contracts.jobs import (
    AggregatesRequest,
    AwardFilters,
    DateRange,
    SearchRequest,
    SortKey,
    ValueRange,
)
from tests.aggregates import oracle


def nothing(*args: Any) -> None:
    pass


@pytest.fixture(scope="module")
def table(awards_dir: Path) -> HotTable:
    return load_hot_table(awards_dir)


FILTERS = {
    "none": AwardFilters(),
    "region": AwardFilters(areas=["NCR"]),
    "unicode contractor": AwardFilters(contractors=["Ñiño & Peña Builders"]),
    "keyword and years": AwardFilters(
        keywords=["SUPPLY"],
        time_ranges=[DateRange(start=dt.date(2016, 1, 1), end=dt.date(2019, 12, 31))],
    ),
    "unicode keyword": AwardFilters(keywords=["parañaque"]),
    "boundary day": AwardFilters(
        time_ranges=[DateRange(start=dt.date(2016, 1, 1), end=dt.date(2016, 1, 1))]
    ),
    "value range": AwardFilters(
        value_range=ValueRange(min=50_000, max=2_000_000), areas=["Region VIII", "Metro Manila"]
    ),
    "empty": AwardFilters(keywords=["no award says this"]),
}


@pytest.mark.parametrize("name", FILTERS)
def test_every_aggregate_equals_the_independent_computation(
    table: HotTable, awards_dir: Path, name: str
) -> None:
    request = AggregatesRequest(filters=FILTERS[name], top_n=5)
    got = compute_aggregates(table, request, cancelled=threading.Event(), progress=nothing)
    want = oracle.aggregates(awards_dir, request)
    assert got.summary.count == want["count"]
    assert got.summary.total == pytest.approx(want["total"], rel=1e-9)
    for figure in ("average", "median"):
        value = getattr(got.summary, figure)
        assert value == (None if want[figure] is None else pytest.approx(want[figure], rel=1e-9))
    assert [(y.year, y.count) for y in got.by_year] == [(y, c) for y, _, c in want["by_year"]]
    assert [y.total for y in got.by_year] == pytest.approx(
        [t for _, t, _ in want["by_year"]], rel=1e-9
    )
    assert [(m.month, m.count) for m in got.by_month] == [(m, c) for m, _, c in want["by_month"]]
    for field in (
        "top_contractors",
        "top_organizations",
        "top_areas",
        "top_regions",
        "top_categories",
    ):
        tops = getattr(got, field)
        assert [(g.name, g.count) for g in tops] == [(n, c) for n, _, c in want[field]], field
        assert [g.total for g in tops] == pytest.approx([t for _, t, _ in want[field]], rel=1e-9)


def test_an_empty_result_has_zero_totals_and_no_averages(table: HotTable) -> None:
    request = AggregatesRequest(filters=FILTERS["empty"])
    got = compute_aggregates(table, request, cancelled=threading.Event(), progress=nothing)
    assert (got.summary.count, got.summary.total, got.summary.average, got.summary.median) == (
        0,
        0.0,
        None,
        None,
    )
    assert got.by_year == [] and got.top_contractors == []


SEARCHES = [
    SearchRequest(query="supply"),
    SearchRequest(query="Supply   delivery", page=2, page_size=7),
    SearchRequest(query='"repair services" hospital'),
    SearchRequest(query="ÑIÑO"),
    SearchRequest(query="οδος"),
    SearchRequest(
        query="",
        filters=FILTERS["region"],
        sort=[SortKey(column="contract_amount", descending=True)],
    ),
    SearchRequest(
        query="services",
        sort=[SortKey(column="awardee_name"), SortKey(column="award_date", descending=True)],
    ),
    SearchRequest(
        query="services",
        sort=[SortKey(column="award_reference_no", descending=True)],
        page=3,
        page_size=10,
    ),
    SearchRequest(query="no award says this"),
    SearchRequest(query="supply", page=10_000),
]


@pytest.mark.parametrize("request_", SEARCHES, ids=lambda r: f"{r.query}|{r.page}|{len(r.sort)}")
def test_every_search_page_and_total_equal_the_independent_computation(
    table: HotTable, awards_dir: Path, request_: SearchRequest
) -> None:
    got = search_awards(table, request_, cancelled=threading.Event(), progress=nothing)
    total, references = oracle.search(awards_dir, request_)
    assert got.total == total
    assert [a.award_reference_no for a in got.awards] == references


@pytest.mark.parametrize("request_", SEARCHES, ids=lambda r: f"{r.query}|{r.page}|{len(r.sort)}")
def test_a_page_gathered_over_small_slices_equals_the_independent_computation(
    table: HotTable, awards_dir: Path, request_: SearchRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first page stops after the slices it needs; small slices make it walk several.
    monkeypatch.setattr(search, "_FIRST_SLICE", 3)
    table.memo.clear()
    got = search_awards(table, request_, cancelled=threading.Event(), progress=nothing)
    total, references = oracle.search(awards_dir, request_)
    assert [a.award_reference_no for a in got.awards] == references
    # The total is remembered per table: another page of the same query reuses it.
    other = msgspec.structs.replace(request_, page=request_.page + 1)
    again = search_awards(table, other, cancelled=threading.Event(), progress=nothing)
    assert got.total == again.total == total == oracle.search(awards_dir, other)[0]


def test_a_search_returns_whole_awards_with_their_nulls(table: HotTable) -> None:
    got = search_awards(
        table, SearchRequest(query="écOLE"), cancelled=threading.Event(), progress=nothing
    )
    [award] = got.awards
    assert (award.award_title, award.notice_title, award.region) == (
        "Supply of ÉCOLE Chairs",
        None,
        None,
    )
    assert award.award_date == dt.date(2019, 12, 31)


def test_query_terms_are_words_and_quoted_phrases() -> None:
    assert query_terms('Supply  "Fire  Fighting" supply "open') == [
        "supply",
        "fire fighting",
        "open",
    ]
    assert query_terms("   ") == []


def test_a_cancelled_computation_stops() -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(ComputationCancelledError):
        compute_aggregates(
            HotTable("v", None, None, None, None, None),
            AggregatesRequest(),
            cancelled=cancelled,
            progress=nothing,
        )  # type: ignore[arg-type]


def test_text_columns_are_codes_into_the_tables_own_texts(awards_dir: Path) -> None:
    # Texts are kept once per table, in ``texts``: nothing lands in polars' global dictionary
    # (it would keep every dataset version's texts for the life of the process), and the
    # load's own Categories mapping is dropped once the columns are plain codes.
    table = load_hot_table(awards_dir)
    assert {table.frame.schema[c] for c in CATEGORICAL_COLUMNS} == {pl.UInt32}
    code = table.texts.index_of("Supply of ÉCOLE Chairs")
    assert code is not None
    assert table.folded[code] == "supply of ecole chairs"
    row = table.frame.filter(pl.col("award_title") == code)
    assert row.height == 1
    assert table.texts[row.item(0, "awardee_name")] == "Ñiño & Peña Builders"
    assert "Supply of ÉCOLE Chairs" not in pl.Categories()
    # Text order for sorting: the code's rank among the texts.
    ranks = table.text_rank.gather(
        pl.Series([code, table.texts.index_of("ΟΔΟΣ Construction Lot 1")])
    )
    assert ranks[0] < ranks[1]
