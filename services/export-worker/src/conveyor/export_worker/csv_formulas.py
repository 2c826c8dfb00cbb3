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

from collections.abc import Callable

import polars as pl

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (or strip into one)."""
_ABOVE_TRIGGERS = "A"
"""Every trigger sorts before it: text at or after it (most text) needs no closer look."""


def _starts_formula(text: pl.Expr) -> pl.Expr:
    # Text starting with t sorts in [t, t+1): string comparisons are vectorised and several
    # times cheaper than a regex or starts_with over the same cells.
    return pl.any_horizontal(
        (text >= trigger) & (text < chr(ord(trigger) + 1)) for trigger in FORMULA_TRIGGERS
    )


def neutralise_formulas(chunk: pl.DataFrame) -> pl.DataFrame:
    """``chunk`` with a ``'`` before every text cell that starts with a formula trigger."""
    text_columns = [name for name, dtype in chunk.schema.items() if dtype == pl.String]
    if not text_columns or not chunk.height:
        return chunk
    # Most columns of most chunks hold no such cell: cheap looks narrow the columns down
    # before the exact one, and a column is copied only when it has a cell to change.
    suspects = _columns_where(chunk, text_columns, lambda text: text < _ABOVE_TRIGGERS)
    # Digits sort among the triggers and start many reference numbers: set them aside.
    suspects = _columns_where(
        chunk, suspects, lambda text: (text < "0") | ((text >= ":") & (text < _ABOVE_TRIGGERS))
    )
    found = _columns_where(chunk, suspects, _starts_formula)
    return chunk.with_columns(
        pl.when(_starts_formula(pl.col(c)))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in found
    )


def _columns_where(
    chunk: pl.DataFrame, columns: list[str], test: Callable[[pl.Expr], pl.Expr]
) -> list[str]:
    """The ``columns`` of ``chunk`` where ``test`` holds for some cell."""
    if not columns:
        return []
    hits = chunk.select(test(pl.col(c)).any().alias(c) for c in columns).row(0)
    return [c for c, hit in zip(columns, hits, strict=True) if hit]


def restore_formulas(text: str) -> str:
    """The cell text ``neutralise_formulas`` was given (for readers of our CSV files)."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text
