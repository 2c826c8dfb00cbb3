"""The dashboard's aggregate set, computed from one filtered frame of the in-memory table.

Synchronous: runs in a worker thread (polars releases the GIL and runs the queries of the set
in parallel), checking for cancellation between its steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import msgspec
import polars as pl

from conveyor.aggregates_worker.errors import ComputationCancelledError
from conveyor.aggregates_worker.hot_table import CATEGORICAL_COLUMNS, HotTable
from conveyor.awards.folding import fold
from conveyor.contracts.award_results import (
    AggregatesResult,
    AggregateSummary,
    GroupTotal,
    MonthTotal,
    YearTotal,
)
from conveyor.contracts.jobs import AggregatesRequest

Progress = Callable[[int, int, str], None]
"""``(steps_done, steps_total, message)``."""

TOP_COLUMNS = {
    "top_contractors": "awardee_name",
    "top_organizations": "procuring_entity",
    "top_areas": "area_of_delivery",
    "top_regions": "region",
    "top_categories": "business_category",
}
"""Result field -> the column its top-N list groups by."""
MAX_TOP_N = 1000
"""The longest top-N list a request may ask for (``AggregatesRequest.top_n``)."""
_ROLLUP = "aggregates:unfiltered"
_NEEDED = ["contract_amount", "award_date", *TOP_COLUMNS.values()]
_AMOUNT = pl.col("contract_amount")


def compute_aggregates(
    table: HotTable,
    request: AggregatesRequest,
    *,
    cancelled: threading.Event,
    progress: Progress,
) -> AggregatesResult:
    """Summary, by year, by month and the four top-N lists of the awards passing the filters."""
    steps = 3

    def check(done: int, message: str) -> None:
        if cancelled.is_set():
            raise ComputationCancelledError(message)
        progress(done, steps, message)

    check(0, "filtering")
    mask = table.filter_mask(request.filters)
    if mask is None:
        # The unfiltered set is the dashboard's first view: rolled up once per table with the
        # longest top-N lists, then cut to the requested length.
        rollup = table.memo.get(_ROLLUP)
        if rollup is None:
            whole = AggregatesRequest(top_n=MAX_TOP_N)
            rollup = table.memo[_ROLLUP] = _compute(table, whole, None, check)
        check(steps, "done")
        return msgspec.structs.replace(
            rollup, **{f: getattr(rollup, f)[: request.top_n] for f in TOP_COLUMNS}
        )
    result = _compute(table, request, mask, check)
    check(steps, "done")
    return result


def _compute(
    table: HotTable,
    request: AggregatesRequest,
    mask: pl.Series | None,
    check: Callable[[int, str], None],
) -> AggregatesResult:
    frame = table.frame.select(_NEEDED)
    if mask is not None:
        frame = frame.filter(mask)
    check(1, f"aggregating {frame.height:,} awards")
    lazy = frame.lazy()
    totals = [_AMOUNT.sum().alias("total"), pl.len().alias("count")]
    queries = [
        lazy.select(
            pl.len().alias("count"),
            _AMOUNT.sum().alias("total"),
            _AMOUNT.mean().alias("average"),
            _AMOUNT.median().alias("median"),
        ),
        # One pass over the rows by day (a few thousand groups); months and years are rolled
        # up from the days, not grouped again from the rows. Nulls are dropped after grouping:
        # filtering first would copy the columns of every row (once per query, in parallel).
        lazy.group_by("award_date").agg(totals).drop_nulls("award_date"),
        *(_top_candidates(lazy, column, request.top_n) for column in TOP_COLUMNS.values()),
    ]
    summary, by_day, *candidates = pl.collect_all(queries)
    tops = [
        _top(table, found, column, request.top_n)
        for found, column in zip(candidates, TOP_COLUMNS.values(), strict=True)
    ]
    month = pl.col("award_date").dt.year().cast(pl.Int32) * 100 + pl.col("award_date").dt.month()
    by_month = by_day.group_by(month.alias("month")).agg(pl.sum("total", "count")).sort("month")
    by_year = (
        by_month.group_by((pl.col("month") // 100).alias("year"))
        .agg(pl.sum("total", "count"))
        .sort("year")
    )
    check(2, "formatting")
    head = summary.row(0, named=True)
    result = AggregatesResult(
        dataset_version=table.version,
        summary=AggregateSummary(
            count=int(head["count"]),
            total=float(head["total"] or 0.0),
            average=head["average"],
            median=head["median"],
        ),
        by_year=[YearTotal(year=y, total=t, count=c) for y, t, c in by_year.iter_rows()],
        by_month=[
            MonthTotal(month=f"{m // 100:04d}-{m % 100:02d}", total=t, count=c)
            for m, t, c in by_month.iter_rows()
        ],
        **{
            field: [GroupTotal(name=n, total=t, count=c) for n, t, c in top.iter_rows()]
            for field, top in zip(TOP_COLUMNS, tops, strict=True)
        },
    )
    return result


def _top_candidates(lazy: pl.LazyFrame, column: str, n: int) -> pl.LazyFrame:
    """The groups of ``column`` that can make its top ``n``: those reaching the n-th highest
    total (ties included), names still as codes."""
    total = pl.col("total")
    return (
        lazy.group_by(column)
        .agg(_AMOUNT.sum().alias("total"), pl.len().alias("count"))
        .drop_nulls(column)
        .filter(total >= total.top_k(n).min())
    )


def _top(table: HotTable, candidates: pl.DataFrame, column: str, n: int) -> pl.DataFrame:
    """The ``n`` names with the highest total, then count, then folded name, then exact name
    (code point order): every tie broken, the same way everywhere (filter_semantics).

    Names are looked up for the few candidates only, eagerly: as literals in the lazy query
    the table's whole text columns were hashed on every run.
    """
    if column in CATEGORICAL_COLUMNS:  # codes into the table's texts, folded once at load
        codes = candidates.get_column(column)
        named = candidates.with_columns(
            table.texts.gather(codes).alias(column), table.folded.gather(codes).alias("_folded")
        )
    else:  # the few small columns are Enums
        named = candidates.with_columns(pl.col(column).cast(pl.String)).with_columns(
            fold(pl.col(column)).alias("_folded")
        )
    return (
        named.sort(["total", "count", "_folded", column], descending=[True, True, False, False])
        .head(n)
        .select(column, "total", "count")
    )
