"""The shared award filters and sort keys as polars expressions (values matched as data)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import polars as pl

from conveyor.awards.folding import KEYWORD_COLUMNS, contains_terms, search_terms
from conveyor.contracts.jobs import AwardFilters, SortKey

__all__ = [
    "KEYWORD_COLUMNS",
    "TIE_BREAKER",
    "apply_filters",
    "apply_sort",
    "filter_expression",
    "sort_columns",
]

TIE_BREAKER = "award_reference_no"
"""Appended to every sort so equal keys come out in the same order every time (unique)."""


def filter_expression(filters: AwardFilters, *, ignore_case: bool = False) -> pl.Expr:
    """One boolean expression: true for the awards that pass every filter in ``filters``.

    The rules are ``conveyor.contracts.filter_semantics`` (shown in the OpenAPI document and
    docs/filters.md). Name lists compare exactly (``ignore_case=True``, which no request
    sets, compares them lowercased). Keywords go through ``conveyor.awards.folding``, as
    search terms do.

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
    terms = search_terms(filters.keywords)
    if terms:
        conditions.append(contains_terms(terms))
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
