"""Tests of the shared filters and sort keys against an independent plain-Python computation."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from conveyor.awards.filters import (
    KEYWORD_COLUMNS,
    apply_filters,
    apply_sort,
    filter_expression,
    sort_columns,
)
from conveyor.awards.generator import GenerationReport
from conveyor.awards.schema import AWARDS_SCHEMA, conform
from conveyor.contracts.jobs import AwardFilters, DateRange, SortKey, ValueRange
from tests.support import folding

Row = dict[str, Any]

# Values that would break a filter built by splicing text into a query or a regex.
TRICKY_NAMES = (
    'O\'Brien "Best" Trading',
    "Santo Niño Builders & Supply",
    "A+ (Phils.) Inc. [.*]",
    "Robert'); DROP TABLE awards;--",
    "50% Off Enterprises \\d+ $1",
    "日本 Trading ñÑ",
)


def _planted(base: pl.DataFrame) -> pl.DataFrame:
    """Rows whose values hold quotes, unicode, regex metacharacters and SQL, plus nulls."""
    template = base.head(1).to_dicts()[0]
    rows: list[Row] = []
    for i, name in enumerate(TRICKY_NAMES):
        rows.append(
            template
            | {
                "award_reference_no": f"ZZ-{i:03d}",
                "awardee_name": name,
                "procuring_entity": f"OFFICE OF {name.upper()}",
                "award_title": f"Supply of {name} items",
                "area_of_delivery": name,
                "region": None if i % 2 else "Región Ñ",
                "business_category": name,
                "contract_amount": 1_000.0 * (i + 1),
                "award_date": dt.date(2020, 1, 1 + i),
            }
        )
    rows.append(
        template
        | {
            "award_reference_no": "ZZ-null",
            "awardee_name": None,
            "procuring_entity": None,
            "award_title": None,
            "region": None,
            "contract_amount": None,
            "award_date": None,
        }
    )
    return pl.concat([base, conform(pl.DataFrame(rows, schema=AWARDS_SCHEMA))])


@pytest.fixture(scope="module")
def frame(small_dataset: GenerationReport) -> pl.DataFrame:
    return _planted(pl.read_parquet(small_dataset.files))


@pytest.fixture(scope="module")
def rows(frame: pl.DataFrame) -> list[Row]:
    return frame.to_dicts()


# -- the independent computation ------------------------------------------------------------


def _expected(rows: list[Row], f: AwardFilters, *, ignore_case: bool = False) -> list[str]:
    fold: Callable[[str], str] = str.lower if ignore_case else (lambda s: s)

    def one_of(value: str | None, wanted: list[str]) -> bool:
        return value is not None and fold(value) in {fold(w) for w in wanted}

    def passes(r: Row) -> bool:
        if f.contractors and not one_of(r["awardee_name"], f.contractors):
            return False
        if f.organizations and not one_of(r["procuring_entity"], f.organizations):
            return False
        if f.business_categories and not one_of(r["business_category"], f.business_categories):
            return False
        if f.areas and not (one_of(r["area_of_delivery"], f.areas) or one_of(r["region"], f.areas)):
            return False
        if not folding.matches(r, folding.terms(f.keywords), KEYWORD_COLUMNS):
            return False
        if f.time_ranges and not (
            r["award_date"] is not None
            and any(t.start <= r["award_date"] <= t.end for t in f.time_ranges)
        ):
            return False
        if f.value_range is not None:
            amount = r["contract_amount"]
            if amount is None:
                return False
            if f.value_range.min is not None and amount < f.value_range.min:
                return False
            if f.value_range.max is not None and amount > f.value_range.max:
                return False
        return True

    return sorted(r["award_reference_no"] for r in rows if passes(r))


def _actual(frame: pl.DataFrame, f: AwardFilters, *, ignore_case: bool = False) -> list[str]:
    result = apply_filters(frame.lazy(), f, ignore_case=ignore_case).collect()
    return sorted(result["award_reference_no"])


def _common(rows: list[Row], column: str, n: int) -> list[str]:
    counts: dict[str, int] = {}
    for r in rows:
        if r[column] is not None:
            counts[r[column]] = counts.get(r[column], 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:n]


# -- cases ----------------------------------------------------------------------------------


def _cases(rows: list[Row]) -> dict[str, AwardFilters]:
    contractors = _common(rows, "awardee_name", 3)
    organizations = _common(rows, "procuring_entity", 2)
    categories = _common(rows, "business_category", 2)
    return {
        "none": AwardFilters(),
        "contractors": AwardFilters(contractors=contractors),
        "organizations": AwardFilters(organizations=organizations),
        "areas by province": AwardFilters(areas=["Leyte", "Cebu"]),
        "areas by region": AwardFilters(areas=["NCR", "Region VII"]),
        "areas mixed": AwardFilters(areas=["Leyte", "CAR", "Región Ñ"]),
        "categories": AwardFilters(business_categories=categories),
        "one keyword": AwardFilters(keywords=["road"]),
        "keywords all must match": AwardFilters(keywords=["supply", "leyte"]),
        "keyword in contractor": AwardFilters(keywords=["construction & supply"]),
        "keyword padded": AwardFilters(keywords=["  SCHOOL building "]),
        "time range": AwardFilters(
            time_ranges=[DateRange(start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31))]
        ),
        "time ranges any": AwardFilters(
            time_ranges=[
                DateRange(start=dt.date(2014, 3, 1), end=dt.date(2014, 3, 31)),
                DateRange(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 3)),
                DateRange(start=dt.date(2024, 12, 24), end=dt.date(2024, 12, 24)),
            ]
        ),
        "value min": AwardFilters(value_range=ValueRange(min=5_000_000)),
        "value max": AwardFilters(value_range=ValueRange(max=2_000)),
        "value both": AwardFilters(value_range=ValueRange(min=100_000, max=250_000)),
        "combination": AwardFilters(
            areas=["Metro Manila", "Region VIII"],
            business_categories=categories,
            keywords=["of"],
            time_ranges=[DateRange(start=dt.date(2016, 1, 1), end=dt.date(2022, 6, 30))],
            value_range=ValueRange(min=50_000),
        ),
        "contractors and organizations": AwardFilters(
            contractors=contractors, organizations=organizations
        ),
        "nothing matches": AwardFilters(contractors=["No Such Contractor"]),
    }


def test_every_filter_kind_matches_the_independent_computation(
    frame: pl.DataFrame, rows: list[Row]
) -> None:
    for name, f in _cases(rows).items():
        expected = _expected(rows, f)
        assert _actual(frame, f) == expected, name
        if name not in ("none", "nothing matches"):
            assert 0 < len(expected) < len(rows), f"{name}: the case should select some rows"


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_tricky_values_are_matched_as_data(frame: pl.DataFrame, rows: list[Row], name: str) -> None:
    for f in (
        AwardFilters(contractors=[name]),
        AwardFilters(organizations=[f"OFFICE OF {name.upper()}"]),
        AwardFilters(areas=[name]),
        AwardFilters(business_categories=[name]),
        AwardFilters(keywords=[name]),
        AwardFilters(keywords=[name[3:12]]),
    ):
        expected = _expected(rows, f)
        assert expected, f
        assert _actual(frame, f) == expected, f


def test_regex_and_sql_text_does_not_widen_a_match(frame: pl.DataFrame) -> None:
    for f in (
        AwardFilters(keywords=[".*"]),
        AwardFilters(keywords=["' OR '1'='1"]),
        AwardFilters(contractors=["' OR 1=1 --"]),
        AwardFilters(keywords=["%"]),
        AwardFilters(areas=[".*"]),
    ):
        found = _actual(frame, f)
        assert len(found) <= len(TRICKY_NAMES), f


def test_case_insensitive_names_are_optional(frame: pl.DataFrame, rows: list[Row]) -> None:
    name = _common(rows, "awardee_name", 1)[0]
    shouted = AwardFilters(
        contractors=[name.upper()], areas=["metro manila", "santo niño builders & supply"]
    )
    assert _actual(frame, AwardFilters(contractors=[name.upper()])) == []
    expected = _expected(rows, shouted, ignore_case=True)
    assert expected
    assert _actual(frame, shouted, ignore_case=True) == expected


def test_rows_with_null_columns_never_pass_a_filter_on_them(frame: pl.DataFrame) -> None:
    result = apply_filters(frame.lazy(), AwardFilters(value_range=ValueRange(min=0))).collect()
    assert "ZZ-null" not in set(result["award_reference_no"])
    negated = frame.filter(~filter_expression(AwardFilters(keywords=["supply"])))
    assert "ZZ-null" in set(negated["award_reference_no"])


def test_no_filters_returns_the_frame_unchanged(frame: pl.DataFrame) -> None:
    lazy = frame.lazy()
    assert apply_filters(lazy, AwardFilters()) is lazy


# -- sorting --------------------------------------------------------------------------------


def _python_sort(rows: list[Row], keys: list[tuple[str, bool]]) -> list[str]:
    def compare(a: Row, b: Row) -> int:
        for column, descending in keys:
            x, y = a[column], b[column]
            if x == y:
                continue
            if x is None or y is None:
                return 1 if x is None else -1  # nulls last either way
            less = x < y
            return (1 if less else -1) if descending else (-1 if less else 1)
        return 0

    return [r["award_reference_no"] for r in sorted(rows, key=functools.cmp_to_key(compare))]


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [SortKey(column="contract_amount", descending=True)],
        [SortKey(column="award_date"), SortKey(column="awardee_name", descending=True)],
        [SortKey(column="region"), SortKey(column="procurement_mode")],
        [SortKey(column="award_reference_no", descending=True)],
    ],
)
def test_sorting_is_total_and_matches_python(
    frame: pl.DataFrame, rows: list[Row], keys: list[SortKey]
) -> None:
    columns, descending = sort_columns(keys)
    assert columns[-1] == "award_reference_no" or "award_reference_no" in columns
    expected = _python_sort(rows, list(zip(columns, descending, strict=True)))
    actual = apply_sort(frame.lazy(), keys).collect()["award_reference_no"].to_list()
    assert actual == expected


def test_a_column_named_twice_sorts_by_its_first_direction() -> None:
    columns, descending = sort_columns(
        [SortKey(column="region", descending=True), SortKey(column="region")]
    )
    assert columns == ["region", "award_reference_no"]
    assert descending == [True, False]
