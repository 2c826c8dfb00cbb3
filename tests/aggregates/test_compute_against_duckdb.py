"""Aggregates and search over the in-memory table, for random requests, equal DuckDB's answers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conveyor.aggregates_worker.aggregates import compute_aggregates
from conveyor.aggregates_worker.hot_table import HotTable, load_hot_table
from conveyor.aggregates_worker.search import search_awards
from conveyor.contracts.jobs import AggregatesRequest, AwardFilters, SearchRequest, SortKey
from tests.support.duckdb_oracle import (
    AREAS,
    REGIONS,
    TOP_COLUMNS,
    Oracle,
    awards_frame,
    filters,
    queries,
    sort_keys,
    write_dataset,
)


def nothing(*args: Any) -> None:
    pass


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edge-awards")
    write_dataset(directory, awards_frame())
    return directory


@pytest.fixture(scope="module")
def table(dataset: Path) -> HotTable:
    return load_hot_table(dataset)


@pytest.fixture(scope="module")
def oracle(dataset: Path) -> Oracle:
    return Oracle(sorted(dataset.glob("*.parquet")))


@settings(max_examples=80, deadline=None, database=None)
@given(f=filters(), top_n=st.integers(min_value=1, max_value=8))
@example(f=AwardFilters(), top_n=3)
@example(f=AwardFilters(keywords=["ecole"]), top_n=2)
def test_random_aggregates_equal_duckdb(
    table: HotTable, oracle: Oracle, f: AwardFilters, top_n: int
) -> None:
    got = compute_aggregates(
        table,
        AggregatesRequest(filters=f, top_n=top_n),
        cancelled=threading.Event(),
        progress=nothing,
    )
    want = oracle.aggregates(f, top_n)
    count, total, average, median = want["summary"]
    assert (got.summary.count, got.summary.total) == (count, total)
    assert got.summary.average == (None if average is None else pytest.approx(average))
    assert got.summary.median == (None if median is None else pytest.approx(float(median)))
    assert [(y.year, y.total, y.count) for y in got.by_year] == want["by_year"]
    assert [(m.month, m.total, m.count) for m in got.by_month] == want["by_month"]
    for field in TOP_COLUMNS:
        tops = [(g.name, g.total, g.count) for g in getattr(got, field)]
        assert tops == want[field], field


@settings(max_examples=80, deadline=None, database=None)
@given(
    f=filters(),
    query=queries(),
    keys=sort_keys(),
    page=st.integers(min_value=1, max_value=3),
    page_size=st.integers(min_value=1, max_value=25),
)
@example(f=AwardFilters(), query="ordonez", keys=[], page=1, page_size=25)
# A filter without terms in the default order (the page's slices hold only its columns).
@example(f=AwardFilters(business_categories=["Goods"]), query="", keys=[], page=2, page_size=4)
@example(
    f=AwardFilters(keywords=["canal"]),
    query='"CANAL  drainage',
    keys=[SortKey(column="award_title", descending=True)],
    page=2,
    page_size=3,
)
def test_random_searches_equal_duckdb(
    table: HotTable,
    oracle: Oracle,
    f: AwardFilters,
    query: str,
    keys: list[SortKey],
    page: int,
    page_size: int,
) -> None:
    request = SearchRequest(query=query, filters=f, sort=keys, page=page, page_size=page_size)
    got = search_awards(table, request, cancelled=threading.Event(), progress=nothing)
    every = oracle.references(f, query, order=oracle.order_by(keys))
    assert got.total == len(every)
    start = (page - 1) * page_size
    assert [a.award_reference_no for a in got.awards] == every[start : start + page_size]


def test_top_n_ties_go_by_count_then_folded_name_then_exact_name(
    table: HotTable, oracle: Oracle
) -> None:
    # "Alpha" and "alpha" tie on folded name; the exact name (code point) decides.
    f = AwardFilters(contractors=["alpha", "Alpha", "Beta"], value_range=None)
    got = compute_aggregates(
        table, AggregatesRequest(filters=f, top_n=3), cancelled=threading.Event(), progress=nothing
    )
    names = [g.name for g in got.top_contractors]
    assert sorted(names) == ["Alpha", "Beta", "alpha"]
    assert [(g.name, g.total, g.count) for g in got.top_contractors] == oracle.aggregates(f, 3)[
        "top_contractors"
    ]


def test_a_top_area_or_region_given_back_as_areas_selects_exactly_its_awards(
    table: HotTable,
) -> None:
    def aggregate(f: AwardFilters) -> Any:
        request = AggregatesRequest(filters=f, top_n=20)
        return compute_aggregates(table, request, cancelled=threading.Event(), progress=nothing)

    everything = aggregate(AwardFilters())
    entries = [*everything.top_areas, *everything.top_regions]
    assert len(entries) == len(AREAS) + len(REGIONS)
    for entry in entries:
        summary = aggregate(AwardFilters(areas=[entry.name])).summary
        assert (summary.count, summary.total) == (entry.count, entry.total), entry.name
