"""Parsing and judging a block of text rows: the accepted awards and the rejected rows' reasons."""

from __future__ import annotations

import polars as pl

from conveyor.awards.parsing import clean_text, parse_amount, parse_date
from conveyor.awards.readers import Block
from conveyor.awards.regions import region_of
from conveyor.awards.schema import AWARDS_SCHEMA, DATE_COLUMNS, MONEY_COLUMNS, conform

# Why a row is rejected, checked in this order; a row is counted under its first reason.
MISSING_REFERENCE = "missing award_reference_no"
MISSING_AMOUNT = "missing contract_amount"
BAD_AMOUNT = "unparseable contract_amount"
NEGATIVE_AMOUNT = "negative contract_amount"
MISSING_AWARD_DATE = "missing award_date"
BAD_AWARD_DATE = "unparseable award_date"
BAD_BUDGET = "unparseable approved_budget"
NEGATIVE_BUDGET = "negative approved_budget"
BAD_PUBLISHED_DATE = "unparseable published_date"

ROW = "__row"
REASON = "__reason"
VALUE = "__value"


def judge_block(block: Block, mapping: dict[int, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The block's accepted rows (dataset schema plus ``ROW``) and its rejected rows
    (``ROW``, ``REASON``, ``VALUE``)."""
    columns = list(zip(*block.rows, strict=True)) if block.rows else []
    raw = pl.DataFrame(
        [pl.Series(ROW, block.row_numbers, dtype=pl.Int64)]
        + [
            pl.Series(column, columns[p] if columns else [], dtype=pl.String)
            for p, column in mapping.items()
        ]
    )
    text = raw.select(
        ROW,
        *(
            (clean_text(pl.col(c)) if c in raw.columns else pl.lit(None, pl.String)).alias(c)
            for c in AWARDS_SCHEMA
        ),
    )
    # The typed columns keep their text beside them, to tell "missing" from "unparseable"
    # and to show the offending text in the report.
    parsed = text.with_columns(
        *(pl.col(c).alias(_text(c)) for c in (*MONEY_COLUMNS, *DATE_COLUMNS)),
        *(parse_amount(pl.col(c)).alias(c) for c in MONEY_COLUMNS),
        *(parse_date(pl.col(c)).alias(c) for c in DATE_COLUMNS),
    )
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("award_reference_no").is_null(), MISSING_REFERENCE, "award_reference_no"),
        (pl.col(_text("contract_amount")).is_null(), MISSING_AMOUNT, "contract_amount"),
        (pl.col("contract_amount").is_null(), BAD_AMOUNT, "contract_amount"),
        (pl.col("contract_amount") < 0, NEGATIVE_AMOUNT, "contract_amount"),
        (pl.col(_text("award_date")).is_null(), MISSING_AWARD_DATE, "award_date"),
        (pl.col("award_date").is_null(), BAD_AWARD_DATE, "award_date"),
        (
            pl.col(_text("approved_budget")).is_not_null() & pl.col("approved_budget").is_null(),
            BAD_BUDGET,
            "approved_budget",
        ),
        (pl.col("approved_budget") < 0, NEGATIVE_BUDGET, "approved_budget"),
        (
            pl.col(_text("published_date")).is_not_null() & pl.col("published_date").is_null(),
            BAD_PUBLISHED_DATE,
            "published_date",
        ),
    ]
    reason: pl.Expr = pl.lit(None, pl.String)
    value: pl.Expr = pl.lit(None, pl.String)
    # Built back to front so that the first failing check in the list wins.
    for condition, why, column in reversed(checks):
        hit = condition.fill_null(False)
        source = _text(column) if column in (*MONEY_COLUMNS, *DATE_COLUMNS) else column
        reason = pl.when(hit).then(pl.lit(why)).otherwise(reason)
        value = pl.when(hit).then(pl.col(source)).otherwise(value)
    judged = parsed.with_columns(reason.alias(REASON), value.alias(VALUE))
    good = judged.filter(pl.col(REASON).is_null())
    accepted = conform(good).with_columns(good.get_column(ROW))
    rejected = judged.filter(pl.col(REASON).is_not_null()).select(ROW, REASON, VALUE)
    return _fill_regions(accepted), rejected


def _text(column: str) -> str:
    return f"__{column}_text"


def _fill_regions(frame: pl.DataFrame) -> pl.DataFrame:
    """Older exports have no region column: derive it from the area of delivery."""
    if frame.is_empty() or frame["region"].null_count() == 0:
        return frame
    areas = frame["area_of_delivery"].drop_nulls().unique().to_list()
    regions = {a: region_of(a) for a in areas}
    return frame.with_columns(
        pl.coalesce(
            pl.col("region"),
            pl.col("area_of_delivery").replace_strict(
                regions, default=None, return_dtype=pl.String
            ),
        ).alias("region")
    )
