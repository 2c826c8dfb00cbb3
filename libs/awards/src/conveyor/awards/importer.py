"""Imports public award CSV and XLSX files into the dataset, accounting for every row.

Each data row ends in exactly one of: imported, rejected (file, row, reason) or blank. A file
that cannot be read to its end is reported unreadable with the reason and contributes
nothing, while the other files still import. The last row read for an award reference wins:
a later import replaces the award already in the dataset, and within one import a later
row (later file on the command line, or further down) replaces an earlier one, which is
reported as rejected with ``SUPERSEDED``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from conveyor.awards.charsets import describe
from conveyor.awards.errors import UnreadableFileError
from conveyor.awards.headers import map_headers
from conveyor.awards.import_report import FileReport, ImportReport, RejectedRow, RejectsWriter
from conveyor.awards.readers import DEFAULT_BLOCK_ROWS, Block, read_sheets
from conveyor.awards.replacement import SUPERSEDED, commit_import, import_lock, superseded_rows
from conveyor.awards.row_checks import REASON, ROW, VALUE, judge_block
from conveyor.awards.schema import AWARDS_SCHEMA
from conveyor.awards.staging import SEQ, StagedRows, remove_stale_staging

DEFAULT_ROWS_PER_FILE = 1_000_000
DEFAULT_EXAMPLES_PER_REASON = 5


def import_files(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    rejects_file: str | os.PathLike[str] | None = None,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    examples_per_reason: int = DEFAULT_EXAMPLES_PER_REASON,
) -> ImportReport:
    """Parse award CSV/XLSX files into the dataset in ``out_dir``, replacing awards it holds.

    Headers are matched in their historical spellings (``conveyor.awards.headers``). A row is
    rejected when its shape does not fit the header (short, or cells beyond it), its award
    reference is missing, its contract amount or award date is missing or unparseable, or a
    budget or published date is present but unparseable. Every rejected row (and every
    unreadable file) is written to ``rejects_file`` as CSV when given. Nothing becomes
    visible to readers until the whole import is committed by one manifest switch.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ImportReport()
    names = [str(p) for p in paths]
    with (
        import_lock(out),
        RejectsWriter(
            report, None if rejects_file is None else Path(rejects_file), examples_per_reason
        ) as rejects,
    ):
        remove_stale_staging(out)
        staged = StagedRows(out, rows_per_file)
        try:
            for file_no, name in enumerate(names):
                file_report = FileReport(path=name)
                report.files.append(file_report)
                pending: list[RejectedRow] = []
                try:
                    _read_file(Path(name), file_no, file_report, staged, pending, block_rows)
                except UnreadableFileError as exc:
                    staged.drop_file(file_no)
                    file_report.forget_rows()
                    file_report.unreadable = exc.reason
                    rejects.unreadable(name, exc.reason)
                    continue
                staged.end_file(file_no)
                # Rejections are reported only once the file proved readable to its end.
                for rejected in pending:
                    rejects.add(rejected)
            committing = time.perf_counter()
            losers = superseded_rows(staged.parts, names)
            for _, file_no, row, reference, kept in losers.iter_rows():
                report.files[file_no].imported -= 1
                report.files[file_no].rejected += 1
                rejects.add(RejectedRow(names[file_no], row, SUPERSEDED, f"{reference} ({kept})"))
            committed = commit_import(
                out,
                staged.parts,
                losers.get_column(SEQ),
                rows_per_file=rows_per_file,
            )
        finally:
            staged.remove()
    report.written = committed.written
    report.replaced = committed.replaced
    report.commit_seconds = time.perf_counter() - committing
    report.seconds = time.perf_counter() - started
    return report


def _read_file(
    path: Path,
    file_no: int,
    report: FileReport,
    staged: StagedRows,
    pending: list[RejectedRow],
    block_rows: int,
) -> None:
    found_header = False
    try:
        for sheet in read_sheets(path, block_rows=block_rows):
            if sheet.encoding is not None:
                report.encoding = describe(sheet.encoding)
            if sheet.headers is None:
                where = f"sheet {sheet.name!r}" if sheet.name else "file"
                report.notes.append(f"{where}: no header row found, skipped")
                continue
            found_header = True
            mapping, ignored = map_headers(sheet.headers)
            _note_headers(report, sheet.headers, mapping, ignored)
            for block in sheet.blocks:
                _take_block(block, mapping, file_no, report, staged, pending, sheet.name)
    except OSError as exc:
        raise UnreadableFileError(path, exc.strerror or str(exc)) from exc
    if not found_header:
        raise UnreadableFileError(
            path, "no header row with at least three known column names near the top"
        )


def _take_block(
    block: Block,
    mapping: dict[int, str],
    file_no: int,
    report: FileReport,
    staged: StagedRows,
    pending: list[RejectedRow],
    sheet: str | None,
) -> None:
    accepted, rejected = judge_block(block, mapping)
    report.blank += block.blank
    report.imported += accepted.height
    report.rejected += rejected.height + len(block.rejected)
    report.rows += block.blank + len(block.rows) + len(block.rejected)
    staged.add(file_no, accepted)
    shaped = pl.DataFrame(
        block.rejected, schema={ROW: pl.Int64, REASON: pl.String, VALUE: pl.String}, orient="row"
    )
    everything = pl.concat([rejected, shaped]).sort(ROW)
    pending.extend(
        RejectedRow(report.path, row, reason, value, sheet)
        for row, reason, value in everything.iter_rows()
    )


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
