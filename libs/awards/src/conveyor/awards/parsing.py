"""Vectorised parsing of the text found in award files: amounts, dates and trimmed text."""

from __future__ import annotations

import polars as pl

DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    # PhilGEPS exports are US-style month first; day-first is not guessed. Two-digit years
    # come first because %Y would read "19" as the year 19; %y cannot take "2019" whole.
    "%m/%d/%y",
    "%m/%d/%Y",
    "%Y/%m/%d",
    "%d-%b-%y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
)
"""Date-only formats tried in order; the first that parses the whole text wins."""

DATETIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
)
"""Formats with a time of day (dropped: the dataset keeps dates)."""

# A leading currency marker: "PHP 1,234.00", "Php1234", "P 1,234", "₱1,234".
_CURRENCY = r"^(?i:php|p)\.?\s*|^₱\s*"


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Trimmed text; empty becomes null."""
    trimmed = expr.cast(pl.String).str.strip_chars()
    return pl.when(trimmed == "").then(None).otherwise(trimmed)


def parse_amount(expr: pl.Expr) -> pl.Expr:
    """An amount in pesos from "1,234,567.89", "PHP 1,234.00", "₱ 12", "(1,234.00)" (negative)
    or "1.2e6"; null when the text is not a number (the caller tells missing from bad)."""
    text = clean_text(expr).str.replace(_CURRENCY, "").str.replace_all(r"[,\s]", "")
    negative = text.str.starts_with("(") & text.str.ends_with(")")
    number = text.str.strip_chars("()").cast(pl.Float64, strict=False)
    # Infinity and NaN parse as floats but are not amounts.
    number = pl.when(number.is_finite()).then(number).otherwise(None)
    return pl.when(negative).then(-number).otherwise(number)


def parse_date(expr: pl.Expr) -> pl.Expr:
    """A date from any of ``DATE_FORMATS`` or ``DATETIME_FORMATS``; null when none fits."""
    text = clean_text(expr)
    return pl.coalesce(
        *(text.str.strptime(pl.Date, f, strict=False, exact=True) for f in DATE_FORMATS),
        *(
            text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True).dt.date()
            for f in DATETIME_FORMATS
        ),
    )
