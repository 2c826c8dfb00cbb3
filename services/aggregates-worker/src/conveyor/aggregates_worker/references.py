"""Reference numbers held as integers: one text prefix per column and each row's digits.

``award_reference_no`` and ``bid_reference_no`` hold a different value in every row
("AWD-0123456789", "01234567"); as polars strings they took 480 MB of a 10M-award table, as
integers 115 MB. A row's digits ``d`` are kept as ``10**len(d) + int(d)``: the leading 1 keeps
the leading zeros. A column whose values do not all share the prefix, or have no digits or
more than 18 after it, stays text (``ReferenceCode.fits`` tells).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_DIGITS = "0123456789"
MAX_DIGITS = 18
"""``10**18 + (10**18 - 1)`` is the largest number that still fits in a UInt64."""


def prefix_of(value: str) -> str:
    """``value`` without its trailing digits: the prefix a column's encoding assumes."""
    return value.rstrip(_DIGITS)


@dataclass(frozen=True, slots=True)
class ReferenceCode:
    """How one reference column is encoded: the values' common prefix."""

    column: str
    prefix: str
    ordered: bool = False
    """Every number has as many digits, so numbers sort like the texts (checked at load)."""

    def fits(self) -> pl.Expr:
        """True when every non-null value of the column is the prefix and 1-18 ASCII digits."""
        value, rest = pl.col(self.column), self._rest()
        return (
            value.is_null()
            | (
                value.str.starts_with(self.prefix)
                & rest.str.len_bytes().is_between(1, MAX_DIGITS)
                # The integer cast takes a leading "+" too; anything else but digits fails it.
                & ~rest.str.starts_with("+")
                & rest.cast(pl.UInt64, strict=False).is_not_null()
            )
        ).all()

    def encode(self) -> pl.Expr:
        """The column's values as numbers (meaningful only where ``fits``)."""
        rest = self._rest()
        power = pl.lit(10, dtype=pl.UInt64).pow(rest.str.len_bytes())
        return (rest.cast(pl.UInt64, strict=False) + power).alias(self.column)

    def decode(self) -> pl.Expr:
        """The column's texts back from its numbers (null stays null)."""
        digits = pl.col(self.column).cast(pl.String).str.slice(1)
        return pl.concat_str(pl.lit(self.prefix), digits).alias(self.column)

    def sort_key(self) -> pl.Expr:
        """An expression that sorts like the texts: the numbers when ``ordered``."""
        return pl.col(self.column) if self.ordered else self.decode()

    def _rest(self) -> pl.Expr:
        return pl.col(self.column).str.slice(len(self.prefix))


def finish(code: ReferenceCode, numbers: pl.Series) -> tuple[ReferenceCode, pl.Series]:
    """``code`` knowing whether ``numbers`` sort like their texts, and ``numbers`` in one piece,
    as UInt32 when they fit (5-9 digit references)."""
    low, high = numbers.min(), numbers.max()
    ordered = low is None or len(str(low)) == len(str(high))
    narrow = high is not None and int(high) <= 2**32 - 1  # type: ignore[arg-type]
    contiguous = (numbers.cast(pl.UInt32) if narrow else numbers).rechunk()
    return ReferenceCode(code.column, code.prefix, ordered), contiguous
