"""Tests of parsing amounts and dates found in award files."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from conveyor.awards.parsing import clean_text, parse_amount, parse_date


def _one(expr: pl.Expr, text: str | None) -> object:
    return pl.DataFrame({"x": [text]}, schema={"x": pl.String}).select(expr.alias("y")).item()


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1,234,567.89", 1_234_567.89),
        ("PHP 1,234.00", 1_234.0),
        ("Php1234", 1_234.0),
        ("P 1,234.50", 1_234.5),
        ("₱ 99", 99.0),
        (" 12 ", 12.0),
        ("1.5e6", 1_500_000.0),
        ("(1,000.00)", -1_000.0),
        ("abc", None),
        ("1.2.3", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_amounts(text: str | None, amount: float | None) -> None:
    assert _one(parse_amount(pl.col("x")), text) == amount


@pytest.mark.parametrize(
    "text",
    [
        "2019-03-05",
        "03/05/2019",
        "3/5/2019",
        "2019/03/05",
        "5-Mar-2019",
        "05-Mar-19",
        "Mar 5, 2019",
        "March 5, 2019",
        "5 March 2019",
        "2019-03-05 00:00:00",
        "2019-03-05T13:45:00",
        "3/5/2019 1:45:00 PM",
        "03/05/2019 13:45",
    ],
)
def test_dates_in_every_format(text: str) -> None:
    assert _one(parse_date(pl.col("x")), text) == dt.date(2019, 3, 5)


@pytest.mark.parametrize("text", ["31/31/2020", "2019-02-30", "soon", "", None])
def test_impossible_dates_are_null(text: str | None) -> None:
    assert _one(parse_date(pl.col("x")), text) is None


def test_text_is_trimmed_and_blank_is_null() -> None:
    assert _one(clean_text(pl.col("x")), "  a b ") == "a b"
    assert _one(clean_text(pl.col("x")), "   ") is None
