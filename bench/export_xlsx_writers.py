"""Which xlsx writer for exports: rows/s and peak RSS of each candidate on the same awards frame.

    uv run python bench/export_xlsx_writers.py [--rows 200000] [--only NAME ...] [--rounds N]
    uv run python bench/export_xlsx_writers.py --only conveyor conveyor-plain --rounds 3

``conveyor`` is the export worker's writer in the ``fast`` transport (ISA-L deflate through
``zipfile_bridge``), ``conveyor-plain`` the same in ``plain`` mode (zipfile's zlib); with
``--rounds`` the candidates run in turn, round after round.

Every candidate runs in its own process (peak RSS from ``wait4``) over the same generated
dataset, read in chunks of ``--chunk-rows``; the time and the CPU (all the writer's threads,
robust to a busy host) are the write alone, loading excluded.
Candidates not installed are reported and skipped: the third-party ones are not project
dependencies (put their wheels on ``PYTHONPATH`` to include them). Each output is read back
with openpyxl (first rows and the dimensions) so a fast but wrong writer does not win
(``--no-check`` skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from conveyor.awards.generator import generate
from conveyor.awards.schema import dataset_files, scan_dataset

Chunks = Callable[[], Iterator[pl.DataFrame]]

CANDIDATES = [
    "conveyor",
    "conveyor-plain",
    "conveyor-one-thread",
    "openpyxl",
    "xlsxwriter",
    "rustpy-xlsxwriter-rows",
    "rustpy-xlsxwriter-frame",
    "fastxlsxio",
    "jetxl",
    "pyexcelerate",
]
STREAMING = {
    "conveyor",
    "conveyor-plain",
    "conveyor-one-thread",
    "openpyxl",
    "xlsxwriter",
    "rustpy-xlsxwriter-rows",
    "fastxlsxio",
}


def _rows(chunks: Chunks) -> Iterator[tuple[object, ...]]:
    for chunk in chunks():
        yield from chunk.iter_rows()


def write_conveyor(
    chunks: Chunks, schema: pl.Schema, out: Path, *, background: bool = True, fast: bool = True
) -> None:
    from conveyor.export_worker.xlsx import XlsxWriter

    writer = XlsxWriter(str(out), schema, background=background, fast_deflate=fast)
    for chunk in chunks():
        writer.write(chunk)
    writer.close()


def write_openpyxl(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Awards")
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in schema:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    n = 0
    for row in _rows(chunks):
        ws.append(row)
        n += 1
    ws.auto_filter.ref = f"A1:Q{n + 1}"
    wb.save(out)


def write_xlsxwriter(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    ws = wb.add_worksheet("Awards")
    bold = wb.add_format({"bold": True})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.freeze_panes(1, 0)
    ws.write_row(0, 0, list(schema), bold)
    dates = [i for i, t in enumerate(schema.values()) if t == pl.Date]
    r = 0
    for row in _rows(chunks):
        r += 1
        ws.write_row(r, 0, row)
        for i in dates:
            if row[i] is not None:
                ws.write_datetime(r, i, row[i], date)
    ws.autofilter(0, 0, r, len(schema) - 1)
    wb.close()


def write_rustpy_rows(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    import rustpy_xlsxwriter

    names = list(schema)
    records = (dict(zip(names, row, strict=True)) for row in _rows(chunks))
    rustpy_xlsxwriter.write_worksheet(
        records,
        str(out),
        sheet_name="Awards",
        freeze_row=1,
        bold_headers=True,
        autofilter=True,
        datetime_format="yyyy-mm-dd",
    )


def write_rustpy_frame(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    import rustpy_xlsxwriter

    frame = pl.concat(list(chunks()))
    rustpy_xlsxwriter.write_worksheet(
        frame,
        str(out),
        sheet_name="Awards",
        freeze_row=1,
        bold_headers=True,
        autofilter=True,
        datetime_format="yyyy-mm-dd",
    )


def write_fastxlsxio(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    # No freeze panes and no autofilter in its API: it would need a post-processing pass.
    import fastxlsxio

    wb = fastxlsxio.XIOWWorkbook(str(out))
    wb.add_format({"num_format": "yyyy-mm-dd"}, bind_to_datatype=fastxlsxio.ColTypeHint.Date)
    ws = wb.add_worksheet("Awards")
    ws.write_row(0, 0, list(schema), [wb.add_format({"bold": True})] * len(schema))
    r = 1
    for chunk in chunks():
        ws.write_rows(r, 0, chunk.rows())
        r += chunk.height
    wb.save()


def write_jetxl(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    import jetxl

    frame = pl.concat(list(chunks()))
    jetxl.write_sheet_arrow(
        frame, str(out), sheet_name="Awards", auto_filter=True, freeze_rows=1, styled_headers=True
    )


def write_pyexcelerate(chunks: Chunks, schema: pl.Schema, out: Path) -> None:
    from pyexcelerate import Workbook

    wb = Workbook()
    data = [list(schema), *(list(row) for row in _rows(chunks))]
    ws = wb.new_sheet("Awards", data=data)
    ws.set_row_style(1, _pyexcelerate_bold())
    wb.save(str(out))


def _pyexcelerate_bold() -> object:
    from pyexcelerate import Font, Style

    return Style(font=Font(bold=True))


WRITERS: dict[str, Callable[[Chunks, pl.Schema, Path], None]] = {
    "conveyor": write_conveyor,
    "conveyor-plain": lambda c, s, o: write_conveyor(c, s, o, fast=False),
    "conveyor-one-thread": lambda c, s, o: write_conveyor(c, s, o, background=False),
    "openpyxl": write_openpyxl,
    "xlsxwriter": write_xlsxwriter,
    "rustpy-xlsxwriter-rows": write_rustpy_rows,
    "rustpy-xlsxwriter-frame": write_rustpy_frame,
    "fastxlsxio": write_fastxlsxio,
    "jetxl": write_jetxl,
    "pyexcelerate": write_pyexcelerate,
}


def run_one(name: str, data: Path, out: Path, chunk_rows: int) -> None:
    """Child process: write ``out`` with one candidate; prints the write's seconds and CPU."""
    lazy = scan_dataset(data)
    schema = lazy.collect_schema()

    def chunks() -> Iterator[pl.DataFrame]:
        yield from lazy.collect_batches(chunk_size=chunk_rows)

    started, cpu = time.perf_counter(), time.process_time()
    WRITERS[name](chunks, schema, out)
    print(f"{time.perf_counter() - started:.3f} {time.process_time() - cpu:.3f}")


def check(out: Path, expected: pl.DataFrame, rows: int) -> str:
    """Read the workbook back with openpyxl: dimensions, header, first rows' values."""
    from openpyxl import load_workbook

    wb = load_workbook(out, read_only=True)
    ws = wb.worksheets[0]
    got = list(ws.iter_rows(min_row=1, max_row=len(expected) + 1, values_only=True))
    problems = []
    if list(got[0]) != expected.columns:
        problems.append("header differs")
    for want, row in zip(expected.iter_rows(), got[1:], strict=False):
        for w, g in zip(want, row, strict=True):
            if isinstance(w, dt.date) and isinstance(g, dt.datetime):
                g = g.date()
            if isinstance(w, float) and isinstance(g, int | float):
                same = math.isclose(w, g, rel_tol=1e-12)
            else:
                same = w == g
            if not same:
                problems.append(f"{w!r} read back as {g!r}")
                break
    count = sum(1 for _ in ws.iter_rows(values_only=True))  # parses every cell
    if count != rows + 1:
        problems.append(f"{count} rows read back")
    wb.close()
    return "ok" if not problems else "; ".join(problems[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--only", nargs="*", choices=CANDIDATES)
    parser.add_argument("--data", type=Path, help="dataset directory (default: generated)")
    parser.add_argument("--rounds", type=int, default=1, help="run the candidates N times in turn")
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip read-back")
    parser.add_argument("--run", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run, args.data, args.out, args.chunk_rows)
        return 0

    work = Path(tempfile.mkdtemp(prefix="xlsx-writers-"))
    data = args.data or work / "awards"
    if not args.data:
        generate(args.rows, data, seed=7)
    rows = sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in dataset_files(data))
    expected = scan_dataset(data).head(50).collect()
    print(f"{rows:,} rows x {len(expected.columns)} columns, chunks of {args.chunk_rows:,}\n")
    columns = ("streams", 8), ("seconds", 9), ("rows/s", 10), ("CPU s", 7), ("peak MB", 9)
    columns += (("MB out", 8),)
    print(f"{'writer':<26}" + "".join(f"{name:>{width}}" for name, width in columns) + "  check")
    for name in (args.only or CANDIDATES) * args.rounds:
        out = work / f"{name}.xlsx"
        cmd = [sys.executable, __file__, "--run", name, "--data", str(data), "--out", str(out)]
        cmd += ["--chunk-rows", str(args.chunk_rows)]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        stdout, stderr = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
        child.returncode = os.waitstatus_to_exitcode(status)
        streams = "yes" if name in STREAMING else "no"
        if child.returncode != 0:
            reason = stderr.strip().splitlines()[-1] if stderr.strip() else "failed"
            print(f"{name:<26}{streams:>8}  -- {reason[:90]}")
            continue
        seconds, cpu = map(float, stdout.strip().splitlines()[-1].split())
        peak = usage.ru_maxrss / 1024
        size = out.stat().st_size / 1e6
        verdict = check(out, expected, rows) if args.check else "not checked"
        print(
            f"{name:<26}{streams:>8}{seconds:>9.2f}{rows / seconds:>10,.0f}{cpu:>7.2f}"
            f"{peak:>9.0f}{size:>8.1f}  {verdict}",
            flush=True,
        )
        out.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
