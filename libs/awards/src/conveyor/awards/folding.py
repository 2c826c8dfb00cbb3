"""Text folding and search terms: how keywords and search queries meet the awards' text.

One fold for both sides (the data's columns and the user's terms), written once as a polars
expression, so filters, search and the in-memory table cannot drift apart. The rules are
``conveyor.contracts.filter_semantics.TEXT_MATCHING``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence
from functools import reduce

import polars as pl

KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")
"""Where each term is looked for."""

_ASCII_ODD_SPACE = ["  ", "\t", "\n", "\v", "\f", "\r"]
"""ASCII whitespace other than a single space (fold turns every run into one space)."""
_FINAL_SIGMA, _SIGMA = "\u03c2", "\u03c3"
_TERM = re.compile(r'"([^"]*)"?|([^ ]+)')
"""On folded text (whose only whitespace is single spaces): a quoted phrase, or a word."""


def fold(text: pl.Expr, *, whitespace: bool = True) -> pl.Expr:
    """``text`` lowercased, without accents or other marks, whitespace runs as one space, trimmed.

    Vectorised (polars string kernels). Lowercasing comes first: it can itself produce marks
    ("İ" lowercases to "i" plus a dot above), which decomposition then lets go. A final sigma
    becomes sigma, so a word folds the same wherever it stands in a text.

    ``whitespace=False`` leaves whitespace alone: a term without spaces occurs in a text
    exactly when it occurs in it with its whitespace folded (the costliest step), so matching
    words needs no more.
    """
    folded = (
        text.str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_all(_FINAL_SIGMA, _SIGMA, literal=True)
    )
    return folded.str.replace_all(r"\s+", " ").str.strip_chars(" ") if whitespace else folded


def fold_texts(texts: Iterable[str]) -> list[str]:
    """``texts`` folded by ``fold`` (the same kernels as the data's columns)."""
    series = pl.Series("text", list(texts), dtype=pl.String)
    return series.to_frame().select(fold(pl.col("text"))).to_series().to_list()


def fold_series(texts: pl.Series, *, whitespace: bool = True) -> pl.Series:
    """``texts`` folded: equal to ``fold``, which it runs only on the texts that need more than
    lowercasing.

    Decomposition and the whitespace regex cost several times a lowercase, and most award
    texts are ASCII (with single spaces), which fold to their lowercase.
    """
    lowered = texts.str.to_lowercase()
    plain = texts.to_frame("text").select(
        _plain(pl.col("text"), whitespace=whitespace).fill_null(True)
    )
    odd = (~plain.to_series()).arg_true()
    if odd.is_empty():
        return lowered
    rest = texts.gather(odd).to_frame("text").select(fold(pl.col("text"), whitespace=whitespace))
    return lowered.scatter(odd, rest.to_series())


def _plain(text: pl.Expr, *, whitespace: bool) -> pl.Expr:
    """ASCII (with ``whitespace``: and no whitespace but single spaces inside), which folding
    only lowercases."""
    ascii_ = text.str.len_bytes() == text.str.len_chars()
    if not whitespace:
        return ascii_
    return (
        ascii_
        & ~text.str.contains_any(_ASCII_ODD_SPACE)
        & ~text.str.starts_with(" ")
        & ~text.str.ends_with(" ")
    )


def search_terms(texts: Iterable[str]) -> list[str]:
    """The folded terms that ``texts`` (keywords, or a search query) require, each once.

    Each text is folded, then split at spaces into words; text in double quotes is one term
    (a phrase), an unclosed quote runs to the end, a quote inside a word is part of it.
    Blank terms are dropped, and a repeated term counts once (in its first place).
    """
    texts = list(texts)
    if not texts:  # the common case (no keywords) stays off polars: cache lookups use this
        return []
    found: list[str] = []
    for folded in fold_texts(texts):
        for phrase, word in _TERM.findall(folded):
            found.append(word or phrase.strip(" "))
    return list(dict.fromkeys(t for t in found if t))


def contains_terms(terms: Sequence[str]) -> pl.Expr:
    """True where every (folded) term occurs in at least one folded keyword column.

    One function call per batch of rows folds each column once, whatever the number of terms;
    whitespace is folded only when a term is a phrase (see ``fold``).
    """
    wanted = list(terms)
    whitespace = any(" " in t for t in wanted)

    def mask(batch: pl.Series) -> pl.Series:
        columns = [
            fold_series(batch.struct.field(c), whitespace=whitespace) for c in KEYWORD_COLUMNS
        ]
        found = pl.repeat(True, batch.len(), dtype=pl.Boolean, eager=True)
        for term in wanted:
            hits = [c.str.contains(term, literal=True).fill_null(False) for c in columns]
            found &= reduce(operator.or_, hits)
        return found

    return pl.struct(*KEYWORD_COLUMNS).map_batches(
        mask, return_dtype=pl.Boolean, is_elementwise=True
    )
