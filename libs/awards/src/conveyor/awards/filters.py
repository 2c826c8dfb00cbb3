"""The shared award filters and sort keys as polars expressions (values matched as data)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import polars as pl

from conveyor.contracts.jobs import AwardFilters, SortKey

KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")
"""Where each keyword is looked for."""

TIE_BREAKER = "award_reference_no"
"""Appended to every sort so equal keys come out in the same order every time (unique)."""


def filter_expression(filters: AwardFilters, *, ignore_case: bool = False) -> pl.Expr:
    """One boolean expression: true for the awards that pass every filter in ``filters``.

    Empty lists mean no filter; the filters combine with AND, the values within one with OR.

    - contractors, organizations, business_categories: equality with ``awardee_name``,
      ``procuring_entity``, ``business_category``. Exact by default, because the dashboard
      sends names it got from the data; ``ignore_case=True`` compares lowercased values.
    - areas: equal to ``area_of_delivery`` or to ``region`` (the dashboard sends both kinds).
    - keywords: every keyword (trimmed) appears, case-insensitively and literally (no regex,
      no wildcards), in the award title, notice title, contractor or procuring entity.
    - time_ranges: ``award_date`` within any of the ranges, both ends inclusive.
    - value_range: ``contract_amount`` within the bounds, both inclusive.

    Values travel as literals (``is_in`` lists, literal substrings), never as query text, so
    quotes, regex metacharacters or SQL in them match only themselves. A row whose column is
    null never passes a filter on that column.
    """
    conditions = _conditions(filters, ignore_case=ignore_case)
    if not conditions:
        return pl.lit(True)
    # Comparisons with null yield null; filter() would drop those rows anyway, but an
    # explicit False keeps the expression safe to negate or to select as a column.
    return reduce(lambda a, b: a & b, conditions).fill_null(False)


def apply_filters(
    frame: pl.LazyFrame, filters: AwardFilters, *, ignore_case: bool = False
) -> pl.LazyFrame:
    """``frame`` restricted to the awards that pass ``filters`` (see ``filter_expression``)."""
    if not _conditions(filters, ignore_case=ignore_case):
        return frame
    return frame.filter(filter_expression(filters, ignore_case=ignore_case))


def _conditions(filters: AwardFilters, *, ignore_case: bool) -> list[pl.Expr]:
    conditions: list[pl.Expr] = []
    for column, values in (
        ("awardee_name", filters.contractors),
        ("procuring_entity", filters.organizations),
        ("business_category", filters.business_categories),
    ):
        if values:
            conditions.append(_equals_any(column, values, ignore_case=ignore_case))
    if filters.areas:
        conditions.append(
            _equals_any("area_of_delivery", filters.areas, ignore_case=ignore_case)
            | _equals_any("region", filters.areas, ignore_case=ignore_case)
        )
    conditions.extend(_contains_keyword(k) for k in _keywords(filters.keywords))
    if filters.time_ranges:
        conditions.append(
            pl.any_horizontal(
                pl.col("award_date").is_between(pl.lit(r.start), pl.lit(r.end), closed="both")
                for r in filters.time_ranges
            )
        )
    value_range = filters.value_range
    if value_range is not None and value_range.min is not None:
        conditions.append(pl.col("contract_amount") >= value_range.min)
    if value_range is not None and value_range.max is not None:
        conditions.append(pl.col("contract_amount") <= value_range.max)
    return conditions


def sort_columns(keys: Sequence[SortKey]) -> tuple[list[str], list[bool]]:
    """Column names and descending flags for ``keys`` plus the tie-breaker.

    A column named twice counts at its first position. The tie-breaker sorts ascending unless
    it is already one of the keys.
    """
    columns: list[str] = []
    descending: list[bool] = []
    for key in keys:
        if key.column not in columns:
            columns.append(key.column)
            descending.append(key.descending)
    if TIE_BREAKER not in columns:
        columns.append(TIE_BREAKER)
        descending.append(False)
    return columns, descending


def apply_sort(frame: pl.LazyFrame, keys: Sequence[SortKey]) -> pl.LazyFrame:
    """``frame`` sorted by ``keys`` then by the tie-breaker; nulls come last in every key."""
    columns, descending = sort_columns(keys)
    return frame.sort(columns, descending=descending, nulls_last=True)


def _equals_any(column: str, values: Sequence[str], *, ignore_case: bool) -> pl.Expr:
    if ignore_case:
        return pl.col(column).str.to_lowercase().is_in(_lowercase(values))
    return pl.col(column).is_in(list(values))


def _lowercase(values: Sequence[str]) -> list[str]:
    # Lowercased by polars (not str.lower) so values and columns fold the same way.
    return pl.Series(values, dtype=pl.String).str.to_lowercase().to_list()


def keyword_terms(values: Sequence[str]) -> list[str]:
    """Keywords as the filter matches them: trimmed, lowercased, blanks dropped, each once.

    For engines that match keywords their own way (the aggregates worker's in-memory table)
    with exactly the semantics of ``filter_expression``.
    """
    return _keywords(values)


def _keywords(values: Sequence[str]) -> list[str]:
    """Trimmed, lowercased, blank ones dropped, duplicates once (in their first order)."""
    lowered = _lowercase([v.strip() for v in values])
    return list(dict.fromkeys(k for k in lowered if k))


def _contains_keyword(lowered: str) -> pl.Expr:
    return pl.any_horizontal(
        pl.col(c).str.to_lowercase().str.contains(lowered, literal=True) for c in KEYWORD_COLUMNS
    )
