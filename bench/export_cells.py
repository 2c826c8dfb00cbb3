"""CPU cost of making export cells safe, beside the writing it rides on, per 1M generated awards.

CSV: formula neutralisation (``csv_formulas.neutralise_formulas``) against ``write_csv`` of the
same chunks. xlsx: the text preparation of each 10,000-row slice (``xlsx_text.prepare_text``:
the escape and length checks, escapes and cuts where needed) against the whole writer.
CPU time of the process (all threads), best of ``--repeat``: steadier than wall time on a
shared host. Add ``POLARS_MAX_THREADS=1`` to see one core's share.

    uv run python -m bench.export_cells [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from bench._harness import print_host_speed
from conveyor.awards.generator import generate
from conveyor.awards.schema import dataset_files
from conveyor.export_worker.csv_formulas import neutralise_formulas
from conveyor.export_worker.xlsx import XlsxWriter
from conveyor.export_worker.xlsx_text import prepare_text


def cpu_seconds(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_host_speed()
    with tempfile.TemporaryDirectory() as tmp:
        generate(args.rows, Path(tmp), seed=7)
        frame = pl.read_parquet(dataset_files(tmp))
    chunks = list(frame.iter_slices(50_000))
    slices = list(frame.iter_slices(10_000))

    def csv_plain() -> None:
        for chunk in chunks:
            chunk.write_csv(io.BytesIO(), include_header=False)

    def csv_neutralised() -> None:
        for chunk in chunks:
            neutralise_formulas(chunk).write_csv(io.BytesIO(), include_header=False)

    def neutralise_only() -> None:
        for chunk in chunks:
            neutralise_formulas(chunk)

    def xlsx_whole() -> None:
        writer = XlsxWriter(io.BytesIO(), frame.schema, background=False)
        for chunk in chunks:
            writer.write(chunk)
        writer.close()

    def xlsx_text_only() -> None:
        for part in slices:
            prepare_text(part)

    print(f"{frame.height:,} awards, {len(frame.columns)} columns; CPU ms, best of {args.repeat}")
    for name, work in (
        ("csv: write_csv", csv_plain),
        ("csv: neutralise + write_csv", csv_neutralised),
        ("csv: neutralise alone", neutralise_only),
        ("xlsx: whole writer", xlsx_whole),
        ("xlsx: text checks (prepare_text)", xlsx_text_only),
    ):
        print(f"{name:<30}{cpu_seconds(work, args.repeat) * 1000:>9,.0f}")


if __name__ == "__main__":
    main()
