"""Filters and search terms prepared against a hot table's codes: the rows that match.

Terms are matched against the table's distinct texts (folded once at load), one bit per term,
and reach the rows through their codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from conveyor.awards.folding import KEYWORD_COLUMNS


@dataclass(slots=True)
class Matcher:
    """Filters and search terms prepared against a table; evaluates the table or a slice.

    Terms are matched against distinct texts, never per row: over every text of the table
    for a whole-table mask (once, then kept), or over only the texts a slice uses, so a
    search's first page costs work in proportion to the rows it looks at.
    """

    conditions: pl.Expr | None
    """Every non-keyword filter (codes, dates, amounts); ``None`` when there is none."""
    term_groups: tuple[tuple[str, ...], ...]
    """The folded terms, in groups of up to 64 (one bit each)."""
    folded: pl.Series
    """The table's keyword texts folded, by physical code."""
    _bits: list[tuple[np.ndarray[Any, Any], int]] | None = None
    """Per group, every code's bits and the value with all set (on first whole-table use)."""

    @property
    def everything(self) -> bool:
        return self.conditions is None and not self.term_groups

    @property
    def columns(self) -> list[str]:
        """The columns ``mask`` reads (a slice of rows needs only these gathered)."""
        read = [] if self.conditions is None else self.conditions.meta.root_names()
        if self.term_groups:
            read.extend(KEYWORD_COLUMNS)
        return list(dict.fromkeys(read))

    def mask(self, frame: pl.DataFrame, *, part: bool = False) -> pl.Series | None:
        """Rows of ``frame`` that match; ``None`` means all.

        ``part``: ``frame`` is a small part of the table; only the texts it uses are matched.
        """
        if self.everything:
            return None
        columns: list[pl.Expr] = []
        if self.conditions is not None:
            columns.append(self.conditions)
        for by_code, want in self._bits_of_part(frame) if part else self._all_bits():
            if int(np.bitwise_or.reduce(by_code, initial=0)) != want:
                # Some term occurs in none of these texts.
                return pl.Series("mask", np.zeros(frame.height, dtype=bool))
            # A row's bits are the OR of its four columns' bits (one gather per column,
            # whatever the number of terms); it matches when every bit is set.
            codes = pl.Series(by_code)
            bits = pl.reduce(
                lambda a, b: a | b,
                [
                    pl.lit(codes).gather(pl.col(c).to_physical()).fill_null(0)
                    for c in KEYWORD_COLUMNS
                ],
            )
            columns.append(bits == want)
        return frame.select(pl.all_horizontal(columns).alias("mask")).to_series()

    def _all_bits(self) -> list[tuple[np.ndarray[Any, Any], int]]:
        if self._bits is None:
            self._bits = [_term_bits(self.folded, terms) for terms in self.term_groups]
        return self._bits

    def _bits_of_part(self, frame: pl.DataFrame) -> list[tuple[np.ndarray[Any, Any], int]]:
        if not self.term_groups:  # then ``frame`` holds only the conditions' columns
            return []
        used = np.zeros(len(self.folded), dtype=bool)
        for column in KEYWORD_COLUMNS:
            used[frame.get_column(column).to_physical().drop_nulls().to_numpy()] = True
        codes = np.flatnonzero(used)
        texts = self.folded.gather(pl.Series(codes.astype(np.uint32)))
        found = []
        for terms in self.term_groups:
            some, want = _term_bits(texts, terms)
            by_code = np.zeros(len(self.folded), dtype=some.dtype)
            by_code[codes] = some
            found.append((by_code, want))
        return found


def _term_bits(texts: pl.Series, terms: Sequence[str]) -> tuple[np.ndarray[Any, Any], int]:
    """Each text's bits (one per term it contains, literally) and the value with all set."""
    dtype = next(
        d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= len(terms)
    )
    bits = np.zeros(len(texts), dtype=dtype)
    for index, term in enumerate(terms):
        hit = texts.str.contains(term, literal=True).fill_null(False).to_numpy()
        bits[hit] |= dtype(1 << index)
    return bits, (1 << len(terms)) - 1
