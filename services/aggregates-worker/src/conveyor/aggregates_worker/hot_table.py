"""The awards dataset held in memory for aggregates and search: one load per dataset version.

Titles and names become Categoricals (4-byte codes into polars' shared dictionary), the
small text columns Enums with sorted categories (1-2 bytes); group-bys run on integers and
both sort by their text. Keyword matching runs on the distinct texts, lowercased once at
load (about a million distinct titles instead of ten million rows), and reaches the rows
through their codes; name filters compare codes too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from conveyor.aggregates_worker.errors import AggregatesError
from conveyor.awards.filters import KEYWORD_COLUMNS, TIE_BREAKER, filter_expression, keyword_terms
from conveyor.awards.schema import AWARDS_SCHEMA, dataset_files, dataset_version
from conveyor.contracts.jobs import AwardFilters

UNIQUE_TEXT = ("award_reference_no", "bid_reference_no")
"""Text columns with a value per row: kept as plain strings (a dictionary would not shrink them)."""
CATEGORICAL_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")
NAME_COLUMNS = ("awardee_name", "procuring_entity")
"""Text columns with many distinct values (4-byte codes into polars' shared dictionary)."""
ENUM_COLUMNS = tuple(
    name
    for name, dtype in AWARDS_SCHEMA.items()
    if dtype == pl.String and name not in (*UNIQUE_TEXT, *CATEGORICAL_COLUMNS)
)
"""Text columns with a few hundred values at most (1-2 byte codes, categories known up front)."""

LoadProgress = Callable[[int, int], None]
"""``(steps_done, steps_total)`` while loading."""


class LoadCancelledError(AggregatesError):
    """Loading stopped because nobody waits for the table any more."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """Filters and search terms prepared once against a table; evaluates any slice of it.

    Preparing does the per-distinct-text work (name lookups, term bits); ``mask`` then costs
    integer work per row only, so a search can stop after the slices its first page needs.
    """

    conditions: pl.Expr | None
    """Every non-keyword filter (codes, dates, amounts); ``None`` when there is none."""
    term_bits: tuple[tuple[pl.Series, int], ...]
    """Per group of up to 64 terms: each code's bits (one per term it contains), all bits."""
    impossible: bool
    """Some term occurs in no text: nothing matches."""

    @property
    def everything(self) -> bool:
        return self.conditions is None and not self.term_bits and not self.impossible

    def mask(self, frame: pl.DataFrame) -> pl.Series | None:
        """Rows of ``frame`` (the table or a slice of it) that match; ``None`` means all."""
        if self.impossible:
            return pl.Series("mask", np.zeros(frame.height, dtype=bool))
        columns: list[pl.Expr] = []
        if self.conditions is not None:
            columns.append(self.conditions)
        for by_code, want in self.term_bits:
            # A row's bits are the OR of its four columns' bits (one gather per column,
            # whatever the number of terms); it matches when every bit is set.
            bits = pl.reduce(
                lambda a, b: a | b,
                [
                    pl.lit(by_code).gather(pl.col(c).to_physical()).fill_null(0)
                    for c in KEYWORD_COLUMNS
                ],
            )
            columns.append(bits == want)
        if not columns:
            return None
        return frame.select(pl.all_horizontal(columns).alias("mask")).to_series()


@dataclass(frozen=True, slots=True)
class HotTable:
    """One dataset version in memory. Immutable: a new version is a new table."""

    version: str
    frame: pl.DataFrame
    """Every award column (repetitive text as Categoricals and Enums), sorted by
    ``award_reference_no`` (nulls last): a row's position is its place in the default order."""
    texts: pl.Series
    """The name columns' texts by physical code (the four keyword columns share one
    Categories, so one array serves both; null for other codes)."""
    lowered: pl.Series
    """The keyword columns' texts lowercased, by physical code."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Results over the whole table (the unfiltered rollup, match counts), kept per table."""

    @property
    def rows(self) -> int:
        return self.frame.height

    def filter_mask(self, filters: AwardFilters) -> pl.Series | None:
        """Rows passing ``filters``; ``None`` means all rows.

        The semantics are ``filter_expression``'s (the tests hold them to the same oracle as
        exports). Name filters are matched against the distinct texts and then compare
        integer codes, keywords go through the term bits; comparing Categoricals with text
        row by row costs about ten times more. Dates and amounts use ``filter_expression``.
        """
        return self.matcher(filters).mask(self.frame)

    def terms_mask(self, terms: Sequence[str]) -> pl.Series | None:
        """Rows where every lowercased ``term`` occurs literally in one keyword column.

        ``None`` (all rows) when there are no terms. A null column never matches.
        """
        return self.matcher(AwardFilters(), terms).mask(self.frame)

    def matcher(self, filters: AwardFilters, terms: Sequence[str] = ()) -> Matcher:
        """``filters`` and the extra search ``terms`` (lowercased), prepared for ``mask``."""
        conditions: list[pl.Expr] = [
            self._equals_any(column, values)
            for column, values in (
                ("awardee_name", filters.contractors),
                ("procuring_entity", filters.organizations),
                ("business_category", filters.business_categories),
            )
            if values
        ]
        if filters.areas:
            conditions.append(
                self._equals_any("area_of_delivery", filters.areas)
                | self._equals_any("region", filters.areas)
            )
        ranges = AwardFilters(time_ranges=filters.time_ranges, value_range=filters.value_range)
        if _has_conditions(ranges):
            conditions.append(filter_expression(ranges))
        every_term = list(dict.fromkeys([*keyword_terms(filters.keywords), *terms]))
        groups = [self._term_bits(every_term[i : i + 64]) for i in range(0, len(every_term), 64)]
        return Matcher(
            conditions=pl.all_horizontal(conditions) if conditions else None,
            term_bits=tuple(g for g in groups if g is not None),
            impossible=any(g is None for g in groups),
        )

    def _equals_any(self, column: str, values: Sequence[str]) -> pl.Expr:
        if column in ENUM_COLUMNS:  # polars maps the values onto the few categories once
            return (
                pl.col(column).is_in(pl.Series(values, dtype=pl.String).implode()).fill_null(False)
            )
        codes = np.flatnonzero(self.texts.is_in(list(values)).fill_null(False).to_numpy())
        wanted = pl.Series(codes.astype(np.uint32)).implode()
        return pl.col(column).to_physical().is_in(wanted).fill_null(False)

    def _term_bits(self, terms: Sequence[str]) -> tuple[pl.Series, int] | None:
        """Each code's bits (one per term its text contains) and the value with all set;
        ``None`` when some term occurs in no text at all."""
        dtype = next(
            d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= len(terms)
        )
        bits = np.zeros(len(self.lowered), dtype=dtype)
        for index, term in enumerate(terms):
            hit = self.lowered.str.contains(term, literal=True).fill_null(False).to_numpy()
            bits[hit] |= dtype(1 << index)
        want = (1 << len(terms)) - 1
        if int(np.bitwise_or.reduce(bits)) != want:
            return None
        return pl.Series(bits), want


def _has_conditions(filters: AwardFilters) -> bool:
    vr = filters.value_range
    return bool(
        filters.contractors
        or filters.organizations
        or filters.areas
        or filters.business_categories
        or filters.time_ranges
        or (vr is not None and (vr.min is not None or vr.max is not None))
    )


def _texts_by_code(columns: Sequence[pl.Series]) -> pl.Series:
    """Text by physical code (null where no column uses the code).

    Categoricals share one process-wide dictionary, so one array serves every column.
    """
    distinct = pl.concat([c.drop_nulls().unique() for c in columns]).unique()
    known = pl.DataFrame({"code": distinct.to_physical(), "text": distinct.cast(pl.String)})
    size = known.height and int(known.get_column("code").cast(pl.Int64).max()) + 1  # type: ignore[arg-type]
    every = pl.DataFrame({"code": pl.arange(0, size, dtype=pl.UInt32, eager=True)})
    # A join, not Python objects: a million strings would linger in the interpreter's heap.
    joined = every.join(known, on="code", how="left", maintain_order="left")
    return joined.get_column("text").alias("texts")


def combine_masks(*masks: pl.Series | None) -> pl.Series | None:
    """The AND of the masks that are not ``None`` (``None`` when all are)."""
    present = [m for m in masks if m is not None]
    return reduce(lambda a, b: a & b, present) if present else None


def load_hot_table(
    directory: Path,
    *,
    cancelled: threading.Event | None = None,
    progress: LoadProgress | None = None,
) -> HotTable:
    """Read the dataset in ``directory`` into memory, a file at a time.

    Memory never holds more than one file's plain text. The version is taken before and
    after; if the files changed during the load it starts over, so a table's version always
    names what it holds.
    """
    while True:
        version = dataset_version(directory) if directory.is_dir() else "empty"
        files = dataset_files(directory) if directory.is_dir() else []
        table = _load(files, version, cancelled, progress)
        after = dataset_version(directory) if directory.is_dir() else "empty"
        if after == version:
            return table


def _load(
    files: list[Path],
    version: str,
    cancelled: threading.Event | None,
    progress: LoadProgress | None,
) -> HotTable:
    steps, done = len(files) + 2, 0

    def step() -> None:
        nonlocal done
        if cancelled is not None and cancelled.is_set():
            raise LoadCancelledError(f"loading dataset {version} was cancelled")
        done += 1
        if progress is not None:
            progress(done, steps)

    # Categories of this load only: polars drops a mapping once no column uses it, so the
    # dictionaries of an old version go with its table (the global one would only grow). The
    # keyword columns share one, so a text's code is the same in all four.
    load_id = uuid.uuid4().hex
    texts = pl.Categorical(pl.Categories(f"awards-text-{load_id}"))
    small = {c: pl.Categorical(pl.Categories(f"awards-{c}-{load_id}")) for c in ENUM_COLUMNS}

    def read(file: Path) -> pl.DataFrame:
        if cancelled is not None and cancelled.is_set():
            raise LoadCancelledError(f"loading dataset {version} was cancelled")
        # Straight to codes: a file's plain text lives only while it is encoded.
        return pl.read_parquet(file, columns=list(AWARDS_SCHEMA)).with_columns(
            *(pl.col(c).cast(AWARDS_SCHEMA[c]) for c in AWARDS_SCHEMA if c not in _CODED),
            *(pl.col(c).cast(pl.String).cast(texts) for c in CATEGORICAL_COLUMNS),
            *(pl.col(c).cast(pl.String).cast(small[c]) for c in ENUM_COLUMNS),
        )

    parts: list[pl.DataFrame] = []
    # Encoding text is mostly single-threaded hashing: two files at a time use both cores.
    with ThreadPoolExecutor(max_workers=_LOAD_THREADS, thread_name_prefix="load") as pool:
        for part in pool.map(read, files):
            parts.append(part)
            step()
    if parts:
        columns = pl.concat(parts, rechunk=False, how="vertical").get_columns()
    else:
        columns = conform_empty(texts, small).get_columns()
    parts.clear()  # the columns are now the only holders of the chunks
    frame = _in_reference_order(columns)
    step()
    frame = frame.with_columns(_sorted_enum(frame.get_column(c)) for c in ENUM_COLUMNS)
    lowered = _texts_by_code([frame.get_column(c) for c in KEYWORD_COLUMNS]).str.to_lowercase()
    # Name filters need the exact texts, but only of the name columns (not the titles').
    names = _texts_by_code([frame.get_column(c) for c in NAME_COLUMNS])
    step()
    return HotTable(version, frame, names, lowered)


_CODED = (*CATEGORICAL_COLUMNS, *ENUM_COLUMNS)
_LOAD_THREADS = 2


def conform_empty(texts: pl.Categorical, small: dict[str, pl.Categorical]) -> pl.DataFrame:
    """An empty table with the loaded table's columns and types."""
    return pl.DataFrame(schema=AWARDS_SCHEMA).with_columns(
        *(pl.col(c).cast(texts) for c in CATEGORICAL_COLUMNS),
        *(pl.col(c).cast(small[c]) for c in ENUM_COLUMNS),
    )


def _in_reference_order(columns: list[pl.Series]) -> pl.DataFrame:
    """A frame of ``columns`` in ``award_reference_no`` order (nulls last), each column in one
    piece; empties ``columns`` as it goes.

    The table is kept in the default order so a search's first page can stop early. Each
    column is gathered (which also makes it contiguous) and its chunks dropped right after,
    so the table is never held twice.
    """
    names = [c.name for c in columns]
    references = columns[names.index(TIE_BREAKER)].rechunk()
    order = references.arg_sort(nulls_last=True)
    del references
    ordered: list[pl.Series] = []
    while columns:
        ordered.append(columns.pop(0).gather(order))
    return pl.DataFrame(ordered)


def _sorted_enum(column: pl.Series) -> pl.Series:
    """A Categorical of a few hundred values as an Enum whose categories are sorted, so group-bys
    and sorts run on its 1-2 byte codes and code order is text order."""
    categories = column.unique().drop_nulls().cast(pl.String).sort()
    return column.cast(pl.String).cast(pl.Enum(categories))
