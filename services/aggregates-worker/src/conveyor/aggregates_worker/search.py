"""Full-table search over the in-memory table: query terms, filters, a sorted page and a count.

Synchronous: runs in a worker thread, checking for cancellation between its steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import polars as pl

from conveyor.aggregates_worker.errors import ComputationCancelledError
from conveyor.aggregates_worker.hot_table import (
    CATEGORICAL_COLUMNS,
    ENUM_COLUMNS,
    RANK,
    HotTable,
)
from conveyor.aggregates_worker.matcher import Matcher
from conveyor.awards.filters import TIE_BREAKER, sort_columns
from conveyor.awards.folding import search_terms
from conveyor.contracts.award_results import Award, SearchResult
from conveyor.contracts.jobs import SearchRequest

Progress = Callable[[int, int, str], None]
"""``(steps_done, steps_total, message)``."""

_POSITION = "_position"
CODED_COLUMNS = (*CATEGORICAL_COLUMNS, *ENUM_COLUMNS)
_FIRST_SLICE = 65_536
"""Rows matched before the first look at the page; a common word fills it from this many."""
_LARGEST_SLICE = 2_097_152
"""Bounds the rows gathered at once (a rare term walks the whole order in such slices)."""
_COUNTS = "search-count:"
_MAX_COUNTS = 256
"""Match counts remembered per table (a few numbers; the oldest goes first)."""


def query_terms(query: str) -> list[str]:
    """The folded terms a query requires, read as keywords are (``search_terms``)."""
    return search_terms([query])


def search_awards(
    table: HotTable,
    request: SearchRequest,
    *,
    cancelled: threading.Event,
    progress: Progress,
) -> SearchResult:
    """The requested page of the awards matching the query and filters, and their total.

    The page comes first (in the default order it stops after the rows it needs), then the
    total, which is remembered per table for the query and filters (other pages, other sorts).
    """
    steps = 2

    def check(done: int, message: str) -> None:
        if cancelled.is_set():
            raise ComputationCancelledError(message)
        progress(done, steps, message)

    check(0, "matching")
    matcher = table.matcher(request.filters, query_terms(request.query))
    awards = search_page(table, matcher, request)
    check(1, "page ready; counting the matches")
    total = count_matches(table, matcher, request)
    check(2, "done")
    return SearchResult(
        dataset_version=table.version,
        total=total,
        page=request.page,
        page_size=request.page_size,
        awards=awards,
    )


def search_page(table: HotTable, matcher: Matcher, request: SearchRequest) -> list[Award]:
    """The awards of the requested page, in the requested order."""
    offset = (request.page - 1) * request.page_size
    positions = _page_positions(table, matcher, request, offset)
    page = table.frame[positions].select(
        *(pl.lit(table.texts).gather(pl.col(c)).alias(c) for c in CATEGORICAL_COLUMNS),
        *(pl.col(c).cast(pl.String) for c in ENUM_COLUMNS),
        *(code.decode() for code in table.references.values()),
        pl.exclude(*CODED_COLUMNS, *table.references, RANK),
    )
    return msgspec.convert(page.to_dicts(), list[Award])


def count_matches(table: HotTable, matcher: Matcher, request: SearchRequest) -> int:
    """How many awards match the request's query and filters (remembered per table)."""
    if matcher.everything:
        return table.rows
    key = (
        _COUNTS
        + msgspec.json.encode(
            [request.filters, sorted(query_terms(request.query))], order="sorted"
        ).decode()
    )
    total = table.memo.get(key)
    if total is None:
        mask = matcher.mask(table.frame)
        total = table.rows if mask is None else int(mask.sum())
        while sum(k.startswith(_COUNTS) for k in table.memo) >= _MAX_COUNTS:
            del table.memo[next(k for k in table.memo if k.startswith(_COUNTS))]  # the oldest
        table.memo[key] = total
    return int(total)


def _page_positions(
    table: HotTable, matcher: Matcher, request: SearchRequest, offset: int
) -> list[int]:
    columns, descending = sort_columns(request.sort)
    end = offset + request.page_size
    if columns == [TIE_BREAKER]:
        return _default_order_positions(table, matcher, offset, end, descending[0])
    # The tie-breaker (unique references) sorts as its precomputed rank: integers, not text.
    columns = [RANK if c == TIE_BREAKER else c for c in columns]
    keys = [_sort_key(table, c) for c in columns]
    lazy = table.frame.lazy().with_row_index(_POSITION).select(_POSITION, *keys)
    mask = matcher.mask(table.frame)
    if mask is not None:
        lazy = lazy.filter(pl.lit(mask))
    picked = lazy.sort(columns, descending=descending, nulls_last=True).head(end)
    return picked.slice(offset, request.page_size).select(_POSITION).collect().to_series().to_list()


def _sort_key(table: HotTable, column: str) -> pl.Expr:
    if column in CATEGORICAL_COLUMNS:  # codes sort by their text's place (null stays last)
        return pl.lit(table.text_rank).gather(pl.col(column)).alias(column)
    if column in table.references:
        return table.references[column].sort_key()
    return pl.col(column)


def _default_order_positions(
    table: HotTable, matcher: Matcher, offset: int, end: int, descending: bool
) -> list[int]:
    """Positions ``offset:end`` of the matches in the default order (reversed when
    ``descending``), matching a slice of that order at a time, stopping once the page is full."""
    found: list[np.ndarray[Any, Any]] = []
    have = 0
    order = table.order[::-1] if descending else table.order
    # Only the columns the matcher reads are gathered, a bounded slice at a time.
    matched = table.frame.select(matcher.columns)
    start, size = 0, _FIRST_SLICE
    while have < end and start < order.size:
        rows = order[start : start + size]
        mask = None if matcher.everything else matcher.mask(matched[rows], part=True)
        hits = rows if mask is None else rows[mask.to_numpy()]
        found.append(hits)
        have += hits.size
        start += size
        size = min(size * 4, _LARGEST_SLICE)  # few matches so far: look at larger slices
    positions = np.concatenate(found) if found else np.empty(0, dtype=np.uint32)
    return [int(p) for p in positions[offset:end]]
