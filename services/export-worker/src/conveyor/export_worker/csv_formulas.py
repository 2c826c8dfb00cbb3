"""Neutralising CSV text cells that a spreadsheet would run as formulas (CSV injection).

OWASP's rule: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets
a leading ``'``, so ``=HYPERLINK(...)`` in an award title opens as text, not as a live
formula. A reader that wants the original text drops the one ``'`` in front of such a
character (text that itself starts with ``'`` followed by one of them reads back wrongly; the
rule cannot tell the two apart).

Only text columns are touched. Amounts and dates are written as numbers and ISO dates: a
negative amount stays ``-12.5``, which every spreadsheet reads as a number and none runs, and
prefixing it would turn the column into text. Turned off by ``CONVEYOR_CSV_NEUTRALISE_FORMULAS``
for consumers that are not spreadsheets.
"""

from __future__ import annotations

import polars as pl

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (or strip into one)."""
_STARTS_FORMULA = r"^[=+\-@\t\r]"


def neutralise_formulas(chunk: pl.DataFrame) -> pl.DataFrame:
    """``chunk`` with a ``'`` before every text cell that starts with a formula trigger."""
    text_columns = [name for name, dtype in chunk.schema.items() if dtype == pl.String]
    if not text_columns or not chunk.height:
        return chunk
    # Most chunks of most columns have no such cell: look before copying a column.
    flagged = chunk.select(pl.col(c).str.contains(_STARTS_FORMULA).any() for c in text_columns).row(
        0
    )
    return chunk.with_columns(
        pl.col(c).str.replace(_STARTS_FORMULA, "'$0")
        for c, found in zip(text_columns, flagged, strict=True)
        if found
    )


def restore_formulas(text: str) -> str:
    """The cell text ``neutralise_formulas`` was given (for readers of our CSV files)."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text
