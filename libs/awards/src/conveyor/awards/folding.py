"""Text folding and search terms: how keywords and search queries meet the awards' text.

One fold for both sides (the data's columns and the user's terms), written once as a polars
expression, so filters, search and the in-memory table cannot drift apart. The rules are
``conveyor.contracts.filter_semantics.TEXT_MATCHING``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")
"""Where each term is looked for."""

_FINAL_SIGMA, _SIGMA = "\u03c2", "\u03c3"
_TERM = re.compile(r'"([^"]*)"?|([^ ]+)')
"""On folded text (whose only whitespace is single spaces): a quoted phrase, or a word."""


def fold(text: pl.Expr) -> pl.Expr:
    """``text`` lowercased, without accents or other marks, whitespace runs as one space, trimmed.

    Vectorised (polars string kernels). Lowercasing comes first: it can itself produce marks
    ("İ" lowercases to "i" plus a dot above), which decomposition then lets go. A final sigma
    becomes sigma, so a word folds the same wherever it stands in a text.
    """
    return (
        text.str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_all(_FINAL_SIGMA, _SIGMA, literal=True)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" ")
    )


def fold_texts(texts: Iterable[str]) -> list[str]:
    """``texts`` folded by ``fold`` (the same kernels as the data's columns)."""
    series = pl.Series("text", list(texts), dtype=pl.String)
    return series.to_frame().select(fold(pl.col("text"))).to_series().to_list()


def search_terms(texts: Iterable[str]) -> list[str]:
    """The folded terms that ``texts`` (keywords, or a search query) require, each once.

    Each text is folded, then split at spaces into words; text in double quotes is one term
    (a phrase), an unclosed quote runs to the end, a quote inside a word is part of it.
    Blank terms are dropped, and a repeated term counts once (in its first place).
    """
    found: list[str] = []
    for folded in fold_texts(texts):
        for phrase, word in _TERM.findall(folded):
            found.append(word or phrase.strip(" "))
    return list(dict.fromkeys(t for t in found if t))


def contains_terms(terms: Iterable[str]) -> list[pl.Expr]:
    """One condition per (folded) term: it occurs in a folded keyword column.

    Each column is folded once whatever the number of terms (polars' common subexpression
    elimination shares the identical ``fold`` expressions).
    """
    folded = [fold(pl.col(c)) for c in KEYWORD_COLUMNS]
    return [pl.any_horizontal(f.str.contains(t, literal=True) for f in folded) for t in terms]
