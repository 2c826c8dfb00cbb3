"""What an import did: per-file counts, rejected rows by reason, and the rejects CSV file."""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Writer

REPORTED_VALUE_CHARS = 200
"""Offending text longer than this is cut in the report (a 1 MB field helps nobody there)."""

REJECTS_HEADER = ("file", "sheet", "row", "reason", "value")


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One rejected row: where it is, why, and the offending text."""

    file: str
    row: int
    """1-based, as a spreadsheet shows it (the header row counted); 0 for a whole file."""
    reason: str
    value: str | None = None
    sheet: str | None = None


@dataclass(slots=True)
class FileReport:
    """What became of one file. Every data row below the header is counted exactly once:
    ``rows == imported + rejected + blank`` (an unreadable file counts none)."""

    path: str
    encoding: str | None = None
    """How a CSV file was decoded (None for workbooks)."""
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    blank: int = 0
    unreadable: str | None = None
    """Why the file could not be read to its end; nothing of it was imported."""
    columns: dict[str, str] = field(default_factory=dict)
    """File header -> dataset column, for the headers that were used."""
    ignored_headers: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    """Dataset columns no header stood for (left empty; region is derived from the area)."""
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that did not stop the file (a sheet without a header row)."""

    def forget_rows(self) -> None:
        """Undo the counts of a file found unreadable part-way."""
        self.rows = self.imported = self.rejected = self.blank = 0


@dataclass(slots=True)
class ImportReport:
    """What ``import_files`` did, with counts per rejection reason and the first examples."""

    files: list[FileReport] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[RejectedRow] = field(default_factory=list)
    replaced: int = 0
    """Awards already in the dataset that this import replaced."""
    written: list[Path] = field(default_factory=list)
    rejects_file: Path | None = None
    seconds: float = 0.0
    commit_seconds: float = 0.0
    """Of ``seconds``, the time spent replacing awards and writing the new version."""

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rows_imported(self) -> int:
        return sum(f.imported for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def rows_blank(self) -> int:
        return sum(f.blank for f in self.files)

    @property
    def unreadable_files(self) -> list[FileReport]:
        return [f for f in self.files if f.unreadable is not None]

    @property
    def succeeded(self) -> bool:
        """The exit-code rule: every file was read and at least one row was imported."""
        return not self.unreadable_files and self.rows_imported > 0

    def format(self) -> str:
        """A human-readable summary (what ``conveyor data import`` prints)."""
        lines = [
            f"{len(self.files)} file(s), {self.rows:,} rows: {self.rows_imported:,} imported, "
            f"{self.rows_rejected:,} rejected, {self.rows_blank:,} blank; "
            f"{len(self.unreadable_files)} unreadable file(s); "
            f"{self.replaced:,} existing award(s) replaced ({self.seconds:.1f} s)"
        ]
        for f in self.files:
            if f.unreadable is not None:
                lines.append(f"  {f.path}: UNREADABLE, nothing imported: {f.unreadable}")
                continue
            encoding = f" [{f.encoding}]" if f.encoding else ""
            lines.append(
                f"  {f.path}{encoding}: {f.rows:,} rows, {f.imported:,} imported, "
                f"{f.rejected:,} rejected, {f.blank:,} blank"
            )
            if f.ignored_headers:
                lines.append(f"    ignored headers: {', '.join(f.ignored_headers)}")
            if f.missing_columns:
                lines.append(f"    missing columns: {', '.join(f.missing_columns)}")
            lines.extend(f"    note: {n}" for n in f.notes)
        if self.rejected_by_reason:
            lines.append("rejected rows by reason:")
            for reason, count in sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {reason}: {count:,}")
            lines.append("examples:")
            for ex in self.examples:
                where = f"{ex.file}" + (f" [{ex.sheet}]" if ex.sheet else "")
                lines.append(f"  {where} row {ex.row}: {ex.reason} ({_cut(ex.value)!r})")
        if self.rejects_file is not None:
            lines.append(f"rejected rows and unreadable files listed in {self.rejects_file}")
        lines.extend(f"wrote {p}" for p in self.written)
        return "\n".join(lines)


class RejectsWriter:
    """Writes every rejected row (and every unreadable file, row 0) to a CSV file, and keeps
    the per-reason counts and the first examples of each reason for the summary."""

    def __init__(self, report: ImportReport, path: Path | None, examples_per_reason: int) -> None:
        self._report = report
        self._path = path
        self._examples_per_reason = examples_per_reason
        self._counts: Counter[str] = Counter()
        self._shown: Counter[str] = Counter()
        self._fh: IO[str] | None = None
        self._rows: Writer | None = None

    def __enter__(self) -> RejectsWriter:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self._path.open("w", newline="", encoding="utf-8")
            self._rows = csv.writer(self._fh)
            self._rows.writerow(REJECTS_HEADER)
            self._report.rejects_file = self._path
        return self

    def __exit__(self, *exc: object) -> None:
        self._report.rejected_by_reason = dict(sorted(self._counts.items()))
        if self._fh is not None:
            self._fh.close()

    def add(self, rejected: RejectedRow) -> None:
        self._counts[rejected.reason] += 1
        if self._shown[rejected.reason] < self._examples_per_reason:
            self._shown[rejected.reason] += 1
            self._report.examples.append(rejected)
        if self._rows is not None:
            self._rows.writerow(
                (
                    rejected.file,
                    rejected.sheet or "",
                    rejected.row,
                    rejected.reason,
                    _cut(rejected.value) or "",
                )
            )

    def unreadable(self, path: str | os.PathLike[str], reason: str) -> None:
        if self._rows is not None:
            self._rows.writerow((str(path), "", 0, f"unreadable file: {reason}", ""))


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= REPORTED_VALUE_CHARS:
        return value
    return f"{value[:REPORTED_VALUE_CHARS]}… ({len(value):,} characters)"
