"""The awards dataset held in memory for aggregates and search: one load per dataset version.

Titles and names become 4-byte codes into one list of this table's texts, the small text
columns Enums with sorted categories (1-2 bytes); group-bys run on integers and both sort by
their text (codes through ``text_rank``). Keyword matching runs on the distinct texts,
folded once at load (about a million distinct titles instead of ten million rows), and
reaches the rows through their codes; name filters compare codes too. The reference columns,
a different value in every row, are held as numbers (``references``), decoded only for a
page's rows; the default order is ``order``, and ``RANK`` stands for it in other sorts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from conveyor.aggregates_worker.errors import AggregatesError
from conveyor.aggregates_worker.matcher import Matcher
from conveyor.aggregates_worker.references import ReferenceCode, finish, prefix_of
from conveyor.awards.filters import TIE_BREAKER, filter_expression
from conveyor.awards.folding import fold_series, search_terms
from conveyor.awards.schema import AWARDS_SCHEMA, dataset_files, dataset_version
from conveyor.contracts.jobs import AwardFilters

RANK = "_rank"
"""Column: the row's place in the default order (the tie-breaker of every sort, as integers)."""
UNIQUE_TEXT = ("award_reference_no", "bid_reference_no")
"""Text columns with a value per row: kept as numbers (``references``) when they fit, else as
plain strings (a dictionary would not shrink them)."""
CATEGORICAL_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")
"""Text columns with many distinct values (4-byte codes into the table's own dictionary)."""
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
class HotTable:
    """One dataset version in memory. Immutable: a new version is a new table."""

    version: str
    frame: pl.DataFrame
    """Every award column (titles and names as UInt32 codes into ``texts``, small text columns
    as Enums, references as numbers where ``references`` says) plus ``RANK``, in dataset
    order."""
    order: np.ndarray[Any, np.dtype[np.uint32]]
    """Row positions in the default order (``award_reference_no``, nulls last): a search's
    first page walks it and stops early."""
    texts: pl.Series
    """The four text columns' texts by code (they share one dictionary; null for no code)."""
    folded: pl.Series
    """``texts`` folded as keywords are (``conveyor.awards.folding.fold``), by code."""
    text_rank: pl.Series
    """Each code's place in text order (sorting by a text column sorts by this)."""
    references: dict[str, ReferenceCode] = field(default_factory=dict)
    """The ``UNIQUE_TEXT`` columns held as numbers, by name (the others are strings)."""
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

    def matcher(self, filters: AwardFilters, terms: Sequence[str] = ()) -> Matcher:
        """``filters`` and the extra search ``terms`` (folded), prepared for ``mask``."""
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
        every_term = list(dict.fromkeys([*search_terms(filters.keywords), *terms]))
        return Matcher(
            conditions=pl.all_horizontal(conditions) if conditions else None,
            term_groups=tuple(tuple(every_term[i : i + 64]) for i in range(0, len(every_term), 64)),
            folded=self.folded,
        )

    def _equals_any(self, column: str, values: Sequence[str]) -> pl.Expr:
        if column in ENUM_COLUMNS:  # polars maps the values onto the few categories once
            return (
                pl.col(column).is_in(pl.Series(values, dtype=pl.String).implode()).fill_null(False)
            )
        codes = np.flatnonzero(self.texts.is_in(list(values)).fill_null(False).to_numpy())
        wanted = pl.Series(codes.astype(np.uint32)).implode()
        return pl.col(column).to_physical().is_in(wanted).fill_null(False)


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

    The keyword columns share this table's Categories, so one array serves all of them.
    """
    distinct = pl.concat([c.drop_nulls().unique() for c in columns]).unique()
    known = pl.DataFrame({"code": distinct.to_physical(), "text": distinct.cast(pl.String)})
    size = known.height and int(known.get_column("code").cast(pl.Int64).max()) + 1  # type: ignore[arg-type]
    every = pl.DataFrame({"code": pl.arange(0, size, dtype=pl.UInt32, eager=True)})
    # A join, not Python objects: a million strings would linger in the interpreter's heap.
    joined = every.join(known, on="code", how="left", maintain_order="left")
    return joined.get_column("text").alias("texts")


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

    def check() -> None:
        if cancelled is not None and cancelled.is_set():
            raise LoadCancelledError(f"loading dataset {version} was cancelled")

    def step() -> None:
        nonlocal done
        check()
        done += 1
        if progress is not None:
            progress(done, steps)

    # Enums need their categories first: the few distinct values of the small columns.
    # Mapping text onto known categories is far cheaper than growing a dictionary.
    enums = _small_enums(files)
    # Ordered before the rest is read: sorting ten million strings needs a few hundred MB of
    # its own, better spent while the table is not in memory yet.
    order, tiebreaker = _reference_order(files)
    frame, texts_by_code, references = _read_files(files, enums, tiebreaker, check, step)
    rank = np.empty(order.size, dtype=np.uint32)
    rank[order] = np.arange(order.size, dtype=np.uint32)
    frame = frame.with_columns(pl.Series(RANK, rank))
    del rank
    folded = fold_series(texts_by_code)
    text_rank = texts_by_code.rank("ordinal").cast(pl.UInt32)
    step()
    return HotTable(version, frame, order, texts_by_code, folded, text_rank, references)


def _read_files(
    files: list[Path],
    enums: dict[str, pl.Enum],
    tiebreaker: _Encoded | None,
    check: Callable[[], None],
    step: Callable[[], None],
) -> tuple[pl.DataFrame, pl.Series, dict[str, ReferenceCode]]:
    """Every file's columns, encoded: text codes, each code's text, the references' encodings.

    ``tiebreaker``: that column already read, as numbers. Memory never holds more than one
    file's plain text.
    """
    # Encoded through Categories of this load only (the global one would keep every version's
    # texts for the life of the process), shared by the four columns so a text has one code.
    # Its mapping (a hash map over every text, ~250 MB for 10M awards) lives until this
    # function returns: the columns leave as plain codes, ``texts`` keeps the texts once.
    texts = pl.Categorical(pl.Categories(f"awards-text-{uuid.uuid4().hex}"))
    # The tie-breaker was encoded while ordering, if it fits an encoding: not read again.
    names = [c for c in AWARDS_SCHEMA if tiebreaker is None or c != TIE_BREAKER]
    assumed = _reference_codes(files, [c for c in UNIQUE_TEXT if c != TIE_BREAKER])
    references = dict(assumed)  # a column leaves it when a file does not fit its encoding

    def read(file: Path) -> pl.DataFrame:
        check()
        # Straight to codes: a file's plain text lives only while it is encoded.
        lazy = (
            pl.scan_parquet(file, schema=AWARDS_SCHEMA)
            .select(names)
            .with_columns(
                *(pl.col(c).cast(texts) for c in CATEGORICAL_COLUMNS),
                *(pl.col(c).cast(enums[c]) for c in ENUM_COLUMNS),
            )
        )
        codes = list(references.values())
        fits = {r.column: f"_fits:{r.column}" for r in codes}
        part = lazy.with_columns(
            *(r.encode() for r in codes), *(r.fits().alias(fits[r.column]) for r in codes)
        ).collect()
        misfits = [c for c, f in fits.items() if part.height and not part[f][0]]
        if misfits:  # rare: such a column stays text from now on; read the file again
            for column in misfits:
                del references[column]
            part = lazy.with_columns(r.encode() for r in references.values()).collect()
        return part.drop(fits.values(), strict=False)

    parts: list[pl.DataFrame] = []
    # Files in flight each hold their plain text (~250 MB per 500k awards): one at a time keeps
    # the load's peak near the table's size (a second thread helped little on a busy machine).
    with ThreadPoolExecutor(max_workers=_LOAD_THREADS, thread_name_prefix="load") as pool:
        for part in pool.map(read, files):
            parts.append(part)
            step()
    # Files read before a column fell back to text have it as numbers: back to text.
    fell_back = [assumed[c] for c in assumed if c not in references]
    for i, part in enumerate(parts):
        decode = [r.decode() for r in fell_back if part.schema[r.column] != pl.String]
        if decode:
            parts[i] = part.with_columns(decode)
    if parts:
        columns = pl.concat(parts, rechunk=False).get_columns()
    else:
        columns = (
            pl.DataFrame(schema=AWARDS_SCHEMA)
            .with_columns(
                *(pl.col(c).cast(texts) for c in CATEGORICAL_COLUMNS),
                *(pl.col(c).cast(enums[c]) for c in ENUM_COLUMNS),
            )
            .get_columns()
        )
    parts.clear()  # the columns are now the only holders of the chunks
    frame, references = _contiguous(columns, references)
    if tiebreaker is not None:
        code, numbers = tiebreaker
        references[code.column] = code
        frame = frame.with_columns(numbers).select(AWARDS_SCHEMA.names())
    texts_by_code = _texts_by_code([frame.get_column(c) for c in CATEGORICAL_COLUMNS])
    frame = frame.with_columns(pl.col(c).to_physical() for c in CATEGORICAL_COLUMNS)
    return frame, texts_by_code, references


_LOAD_THREADS = 1


def _small_enums(files: list[Path]) -> dict[str, pl.Enum]:
    """Each small text column's Enum: its distinct values over every file, sorted (so code
    order is text order).

    A file at a time: a scan over all files reads them in parallel and held about 1 GB of
    text for 10M awards, the load's peak.
    """
    seen: dict[str, set[str]] = {c: set() for c in ENUM_COLUMNS}
    for file in files:
        part = pl.read_parquet(file, columns=list(ENUM_COLUMNS))
        for column in ENUM_COLUMNS:
            seen[column].update(part.get_column(column).drop_nulls().unique().to_list())
        del part
    return {c: pl.Enum(sorted(seen[c])) for c in ENUM_COLUMNS}


_Encoded = tuple[ReferenceCode, pl.Series]
"""A reference column's encoding and its numbers."""


def _reference_order(
    files: list[Path],
) -> tuple[np.ndarray[Any, np.dtype[np.uint32]], _Encoded | None]:
    """Row positions in ``award_reference_no`` order (nulls last), over the files in order;
    and the references as numbers when they fit an encoding (they are read only here then)."""
    if not files:
        return np.empty(0, dtype=np.uint32), None
    references = pl.concat(
        [pl.read_parquet(f, columns=[TIE_BREAKER]).get_column(TIE_BREAKER) for f in files],
        rechunk=True,  # sorting a chunked column was three times slower
    )
    first = _first_value(references)
    encoded = (
        None
        if first is None
        else _encoded(references, ReferenceCode(TIE_BREAKER, prefix_of(first)))
    )
    # Numbers of one width sort like their texts, and ten times faster.
    key = encoded[1] if encoded is not None and encoded[0].ordered else references
    order = key.arg_sort(nulls_last=True).to_numpy().astype(np.uint32, copy=False)
    return order, encoded


def _encoded(values: pl.Series, code: ReferenceCode) -> _Encoded | None:
    """``values`` as numbers, or ``None`` when some value does not fit ``code``."""
    frame = values.to_frame()
    if not frame.select(code.fits()).item():
        return None
    return finish(code, frame.select(code.encode()).to_series())


def _first_value(values: pl.Series) -> str | None:
    present = values.is_not_null()
    return values[present.arg_max() or 0] if present.any() else None


def _reference_codes(files: list[Path], columns: list[str]) -> dict[str, ReferenceCode]:
    """Each reference column's encoding, with the prefix of its first value (every file is
    checked against it as it is read)."""
    codes: dict[str, ReferenceCode] = {}
    for column in columns:
        for file in files:
            first = _first_value(pl.read_parquet(file, columns=[column]).get_column(column))
            if first is not None:
                codes[column] = ReferenceCode(column, prefix_of(first))
                break
    return codes


def _contiguous(
    columns: list[pl.Series], references: dict[str, ReferenceCode]
) -> tuple[pl.DataFrame, dict[str, ReferenceCode]]:
    """A frame of ``columns``, each in one piece, and the final ``references``; empties
    ``columns`` as it goes.

    Queries over many chunks copy them into one first (each query, each time: hundreds of MB
    for the aggregate set); rechunking a column at a time, dropping its chunks right after,
    never holds the table twice.
    """
    contiguous: list[pl.Series] = []
    finished: dict[str, ReferenceCode] = {}
    while columns:
        column = columns.pop(0)
        if column.name in references:
            finished[column.name], column = finish(references[column.name], column)
        elif column.name not in UNIQUE_TEXT:
            # References kept as text are only read for a page's rows: left in chunks, which
            # spares the load's peak a copy of its largest column.
            column = column.rechunk()
        contiguous.append(column)
    return pl.DataFrame(contiguous), finished
