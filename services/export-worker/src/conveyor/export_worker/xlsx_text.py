"""Text in xlsx cells: Excel's length limit, and the spec's ``_xHHHH_`` escapes.

Length: Excel holds at most 32,767 characters in a cell, counted in UTF-16 code units (a
character outside the Basic Multilingual Plane, such as an emoji, counts two). Longer text
keeps its first 32,767 units, never half a character, and is counted (the job result's
``truncated_cells``).

Escapes (ECMA-376 Part 1, 22.9.2.19 ``ST_Xstring``): a character XML 1.0 cannot carry (C0
controls other than tab and line feed, U+FFFE, U+FFFF) or would change (a carriage return,
which XML parsers turn into a line feed) is written ``_xHHHH_``, its code in hex. An
underscore that would otherwise read as the start of such an escape is itself written
``_x005F_``, so text that contains ``_x000D_`` literally comes back unchanged. Excel and
LibreOffice decode these; openpyxl hands them over as written (``openpyxl.utils.escape.
unescape`` decodes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MAX_CELL_CHARS = 32_767
"""Excel's limit on the text of one cell, in UTF-16 code units; longer text is cut there."""

_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20))]
_ESCAPED = [*_CONTROLS, "\ufffe", "\uffff"]
_ESCAPES = [f"_x{ord(c):04X}_" for c in _ESCAPED]
# An escape-like run whatever follows it: ``_xABCD`` before a carriage return would otherwise
# become ``_xABCD_x000D_``, which reads as U+ABCD. Readers differ on the case of the x.
_ESCAPE_LIKE = r"_([xX][0-9A-Fa-f]{4})"
_NEEDS_ESCAPING = r"[\x00-\x08\x0B-\x0D\x0E-\x1F\x{FFFE}\x{FFFF}]|_[xX][0-9A-Fa-f]{4}"


@dataclass(frozen=True, slots=True)
class PreparedText:
    """A chunk ready for its XML: over-long text cut, expressions for each text column."""

    frame: pl.DataFrame
    columns: list[pl.Expr]
    """Per text column: the escaped text (same name), and a ``<name>\\0ws`` flag saying
    whether it needs ``xml:space="preserve"``."""
    truncated_cells: int


def prepare_text(chunk: pl.DataFrame) -> PreparedText:
    """Cut, escape and flag ``chunk``'s text columns.

    Cleaning that is rarely needed (escapes, over-long text) is only applied to the chunk's
    columns that need it: a cheap scan of each column decides.
    """
    text_columns = [name for name, dtype in chunk.schema.items() if dtype == pl.String]
    if not text_columns:
        return PreparedText(chunk, [], 0)
    needs = chunk.select(
        *(pl.col(c).str.contains(_NEEDS_ESCAPING).any().alias(f"{c}\0esc") for c in text_columns),
        # UTF-8 bytes are never fewer than UTF-16 units: only these cells can be too long.
        *((pl.col(c).str.len_bytes().max() > MAX_CELL_CHARS).alias(c) for c in text_columns),
    ).row(0, named=True)
    truncated = 0
    cut: list[pl.Series] = []
    for name in text_columns:
        if needs[name]:
            series, count = _cut_long_texts(chunk.get_column(name))
            cut.append(series)
            truncated += count
    if cut:
        chunk = chunk.with_columns(cut)
    prepared: list[pl.Expr] = []
    for name in text_columns:
        text = pl.col(name)
        if needs[f"{name}\0esc"]:
            # Literal escape-like runs first, so the escapes added next are not escaped again.
            text = text.str.replace_all(_ESCAPE_LIKE, "_x005F_${1}")
            text = text.str.replace_many(_ESCAPED, _ESCAPES)
        prepared.append(text.str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"]))
        # Without xml:space="preserve" readers may trim leading and trailing blanks.
        prepared.append(text.str.contains(r"^\s|\s$").alias(f"{name}\0ws"))
    return PreparedText(chunk, prepared, truncated)


def cut_text(text: str) -> str | None:
    """``text`` cut to ``MAX_CELL_CHARS`` UTF-16 units (never half a surrogate pair), or
    ``None`` when it fits."""
    units = text.encode("utf-16-le")
    if len(units) <= 2 * MAX_CELL_CHARS:
        return None
    head = units[: 2 * MAX_CELL_CHARS]
    if 0xD800 <= int.from_bytes(head[-2:], "little") <= 0xDBFF:
        head = head[:-2]  # the first half of a pair whose second half is cut off
    return head.decode("utf-16-le")


def _cut_long_texts(column: pl.Series) -> tuple[pl.Series, int]:
    candidates = (column.str.len_bytes() > MAX_CELL_CHARS).arg_true()
    indices: list[int] = []
    values: list[str] = []
    for index, text in zip(candidates.to_list(), column.gather(candidates).to_list(), strict=True):
        shorter = cut_text(text)
        if shorter is not None:
            indices.append(index)
            values.append(shorter)
    if not indices:
        return column, 0
    column = column.clone()
    column.scatter(indices, values)
    return column, len(indices)
