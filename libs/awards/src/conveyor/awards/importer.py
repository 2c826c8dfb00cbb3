"""Imports public award CSV and XLSX files into the dataset, reporting each rejected row."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from conveyor.awards.headers import map_headers
from conveyor.awards.parsing import clean_text, parse_amount, parse_date
from conveyor.awards.readers import DEFAULT_BLOCK_ROWS, Block, UnsupportedFileError, read_sheets
from conveyor.awards.regions import region_of
from conveyor.awards.schema import (
    AWARDS_SCHEMA,
    DATE_COLUMNS,
    MONEY_COLUMNS,
    commit_files,
    conform,
    data_file_name,
    next_file_index,
    temporary_name,
)

DEFAULT_ROWS_PER_FILE = 1_000_000
DEFAULT_EXAMPLES_PER_REASON = 5

# Why a row is rejected, checked in this order; a row is counted under its first reason.
MISSING_REFERENCE = "missing award_reference_no"
MISSING_AMOUNT = "missing contract_amount"
BAD_AMOUNT = "unparseable contract_amount"
NEGATIVE_AMOUNT = "negative contract_amount"
MISSING_AWARD_DATE = "missing award_date"
BAD_AWARD_DATE = "unparseable award_date"
BAD_BUDGET = "unparseable approved_budget"
NEGATIVE_BUDGET = "negative approved_budget"
BAD_PUBLISHED_DATE = "unparseable published_date"
DUPLICATE_REFERENCE = "duplicate award_reference_no"

_ROW = "__row"
_REASON = "__reason"
_VALUE = "__value"


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One rejected row: where it is, why, and the offending text."""

    file: str
    row: int
    """1-based, as a spreadsheet shows it (the header row counted)."""
    reason: str
    value: str | None = None
    sheet: str | None = None


@dataclass(slots=True)
class FileReport:
    """What became of one file."""

    path: str
    rows_read: int = 0
    rows_accepted: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    """File header -> dataset column, for the headers that were used."""
    ignored_headers: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    """Dataset columns no header stood for (left empty; region is derived from the area)."""
    problems: list[str] = field(default_factory=list)
    """File-level problems: unreadable file, a sheet without a header row."""


@dataclass(slots=True)
class ImportReport:
    """What ``import_files`` did, with counts per rejection reason and the first examples."""

    files: list[FileReport] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[RejectedRow] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def format(self) -> str:
        """A human-readable summary (what ``conveyor data import`` prints)."""
        lines = [
            f"read {self.rows_read:,} rows from {len(self.files)} file(s): "
            f"{self.rows_accepted:,} accepted, {self.rows_rejected:,} rejected "
            f"({self.seconds:.1f} s)"
        ]
        for f in self.files:
            lines.append(f"  {f.path}: {f.rows_read:,} read, {f.rows_accepted:,} accepted")
            if f.ignored_headers:
                lines.append(f"    ignored headers: {', '.join(f.ignored_headers)}")
            if f.missing_columns:
                lines.append(f"    missing columns: {', '.join(f.missing_columns)}")
            lines.extend(f"    problem: {p}" for p in f.problems)
        if self.rejected_by_reason:
            lines.append("rejected rows by reason:")
            for reason, count in sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {reason}: {count:,}")
            lines.append("examples:")
            for ex in self.examples:
                where = f"{ex.file}" + (f" [{ex.sheet}]" if ex.sheet else "")
                lines.append(f"  {where} row {ex.row}: {ex.reason} ({ex.value!r})")
        lines.extend(f"wrote {p}" for p in self.written)
        return "\n".join(lines)


def import_files(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    examples_per_reason: int = DEFAULT_EXAMPLES_PER_REASON,
) -> ImportReport:
    """Parse award CSV/XLSX files and append the accepted rows to the dataset in ``out_dir``.

    Headers are matched in their historical spellings (``conveyor.awards.headers``). A row is
    rejected when its award reference is missing or already seen in this import, its
    contract amount or award date is missing or unparseable, or a budget or published date is
    present but unparseable. Files are read in blocks and written in files of at most
    ``rows_per_file`` rows, under temporary names renamed at the end, so a failed import adds
    nothing. Duplicates are checked within the import only, not against existing files.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ImportReport()
    sink = _Sink(out, rows_per_file)
    reasons: Counter[str] = Counter()
    seen: set[str] = set()
    try:
        for path in paths:
            file_report = FileReport(path=str(path))
            report.files.append(file_report)
            try:
                for sheet in read_sheets(path, block_rows=block_rows):
                    if sheet.headers is None:
                        where = f"sheet {sheet.name!r}" if sheet.name else "file"
                        file_report.problems.append(f"{where}: no header row found")
                        continue
                    mapping, ignored = map_headers(sheet.headers)
                    _note_headers(file_report, sheet.headers, mapping, ignored)
                    for block in sheet.blocks:
                        accepted, rejected = _parse_block(block, mapping, seen)
                        file_report.rows_read += len(block.rows)
                        file_report.rows_accepted += accepted.height
                        sink.add(accepted)
                        _note_rejections(
                            report, reasons, rejected, str(path), sheet.name, examples_per_reason
                        )
            except (UnsupportedFileError, OSError, ValueError) as exc:
                # openpyxl raises ValueError/KeyError-like errors for a corrupt workbook.
                file_report.problems.append(str(exc))
        report.written = sink.commit()
    except BaseException:
        sink.discard()
        raise
    report.rejected_by_reason = dict(sorted(reasons.items()))
    report.seconds = time.perf_counter() - started
    return report


def _note_headers(
    report: FileReport, headers: list[str | None], mapping: dict[int, str], ignored: list[str]
) -> None:
    for position, column in mapping.items():
        header = headers[position]
        if header is not None:
            report.columns.setdefault(header, column)
    report.ignored_headers.extend(h for h in ignored if h not in report.ignored_headers)
    present = set(mapping.values())
    report.missing_columns = [c for c in AWARDS_SCHEMA if c not in present]


def _parse_block(
    block: Block, mapping: dict[int, str], seen: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The block's accepted rows (dataset schema) and rejected rows (row, reason, value)."""
    columns = list(zip(*block.rows, strict=True)) if block.rows else []
    raw = pl.DataFrame(
        [pl.Series(_ROW, block.row_numbers, dtype=pl.Int64)]
        + [pl.Series(column, columns[p], dtype=pl.String) for p, column in mapping.items()]
    )
    text = raw.select(
        _ROW,
        *(
            (clean_text(pl.col(c)) if c in raw.columns else pl.lit(None, pl.String)).alias(c)
            for c in AWARDS_SCHEMA
        ),
    )
    # The typed columns keep their text beside them, to tell "missing" from "unparseable"
    # and to show the offending text in the report.
    parsed = text.with_columns(
        *(pl.col(c).alias(_text(c)) for c in (*MONEY_COLUMNS, *DATE_COLUMNS)),
        *(parse_amount(pl.col(c)).alias(c) for c in MONEY_COLUMNS),
        *(parse_date(pl.col(c)).alias(c) for c in DATE_COLUMNS),
    )
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("award_reference_no").is_null(), MISSING_REFERENCE, "award_reference_no"),
        (pl.col(_text("contract_amount")).is_null(), MISSING_AMOUNT, "contract_amount"),
        (pl.col("contract_amount").is_null(), BAD_AMOUNT, "contract_amount"),
        (pl.col("contract_amount") < 0, NEGATIVE_AMOUNT, "contract_amount"),
        (pl.col(_text("award_date")).is_null(), MISSING_AWARD_DATE, "award_date"),
        (pl.col("award_date").is_null(), BAD_AWARD_DATE, "award_date"),
        (
            pl.col(_text("approved_budget")).is_not_null() & pl.col("approved_budget").is_null(),
            BAD_BUDGET,
            "approved_budget",
        ),
        (pl.col("approved_budget") < 0, NEGATIVE_BUDGET, "approved_budget"),
        (
            pl.col(_text("published_date")).is_not_null() & pl.col("published_date").is_null(),
            BAD_PUBLISHED_DATE,
            "published_date",
        ),
    ]
    reason: pl.Expr = pl.lit(None, pl.String)
    value: pl.Expr = pl.lit(None, pl.String)
    # Built back to front so that the first failing check in the list wins.
    for condition, why, column in reversed(checks):
        hit = condition.fill_null(False)
        source = _text(column) if column in (*MONEY_COLUMNS, *DATE_COLUMNS) else column
        reason = pl.when(hit).then(pl.lit(why)).otherwise(reason)
        value = pl.when(hit).then(pl.col(source)).otherwise(value)
    judged = _reject_duplicates(
        parsed.with_columns(reason.alias(_REASON), value.alias(_VALUE)), seen
    )
    accepted = conform(judged.filter(pl.col(_REASON).is_null()))
    seen.update(accepted["award_reference_no"].to_list())
    rejected = judged.filter(pl.col(_REASON).is_not_null()).select(_ROW, _REASON, _VALUE)
    return _fill_regions(accepted), rejected


def _text(column: str) -> str:
    return f"__{column}_text"


def _reject_duplicates(judged: pl.DataFrame, seen: set[str]) -> pl.DataFrame:
    # Only rows that pass every other check take part: a bad first row must not make its
    # corrected repeat a duplicate.
    ok = pl.col(_REASON).is_null()
    earlier = pl.Series(
        [ref in seen for ref in judged["award_reference_no"].to_list()], dtype=pl.Boolean
    )
    first_in_block = (
        pl.when(ok).then(pl.col("award_reference_no")).otherwise(None).is_first_distinct()
    )
    duplicate = ok & (pl.lit(earlier) | ~first_in_block)
    return judged.with_columns(
        pl.when(duplicate)
        .then(pl.lit(DUPLICATE_REFERENCE))
        .otherwise(pl.col(_REASON))
        .alias(_REASON),
        pl.when(duplicate)
        .then(pl.col("award_reference_no"))
        .otherwise(pl.col(_VALUE))
        .alias(_VALUE),
    )


def _fill_regions(frame: pl.DataFrame) -> pl.DataFrame:
    """Older exports have no region column: derive it from the area of delivery."""
    if frame.is_empty() or frame["region"].null_count() == 0:
        return frame
    areas = frame["area_of_delivery"].drop_nulls().unique().to_list()
    regions = {a: region_of(a) for a in areas}
    return frame.with_columns(
        pl.coalesce(
            pl.col("region"),
            pl.col("area_of_delivery").replace_strict(
                regions, default=None, return_dtype=pl.String
            ),
        ).alias("region")
    )


def _note_rejections(
    report: ImportReport,
    reasons: Counter[str],
    rejected: pl.DataFrame,
    file: str,
    sheet: str | None,
    examples_per_reason: int,
) -> None:
    if rejected.is_empty():
        return
    for reason, count in rejected.group_by(_REASON).len().iter_rows():
        reasons[reason] += count
    shown = Counter(ex.reason for ex in report.examples)
    for row, reason, value in rejected.iter_rows():
        if shown[reason] < examples_per_reason:
            shown[reason] += 1
            report.examples.append(RejectedRow(file, row, reason, value, sheet))


class _Sink:
    """Buffers accepted rows and writes dataset files of ``rows_per_file`` rows."""

    def __init__(self, out: Path, rows_per_file: int) -> None:
        self._out = out
        self._rows_per_file = rows_per_file
        self._next_index = next_file_index(out)
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0
        self._written: list[tuple[Path, Path]] = []

    def add(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        self._buffer.append(frame)
        self._buffered += frame.height
        while self._buffered >= self._rows_per_file:
            self._flush(self._rows_per_file)

    def commit(self) -> list[Path]:
        if self._buffered:
            self._flush(self._buffered)
        commit_files(self._written)
        return [final for _, final in self._written]

    def discard(self) -> None:
        for tmp, _ in self._written:
            tmp.unlink(missing_ok=True)

    def _flush(self, rows: int) -> None:
        frame = pl.concat(self._buffer, rechunk=True)
        head, rest = frame.head(rows), frame.slice(rows)
        final = self._out / data_file_name(self._next_index)
        self._next_index += 1
        tmp = temporary_name(final)
        self._written.append((tmp, final))
        head.write_parquet(tmp, compression="zstd", statistics=True)
        self._buffer = [rest] if rest.height else []
        self._buffered = rest.height
