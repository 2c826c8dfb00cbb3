"""Benchmark: generate the synthetic awards dataset and print rows/s, seconds and peak RSS."""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from conveyor.awards.generator import DEFAULT_CHUNK_ROWS, generate
from conveyor.awards.schema import count_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep the dataset here (default: a temp dir)")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="conveyor-awards-bench-"))
    try:
        report = generate(
            args.rows, out, seed=args.seed, chunk_rows=args.chunk_rows, overwrite=True
        )
        size = sum(f.stat().st_size for f in report.files)
        # ru_maxrss is in KiB on Linux: the process's peak resident set, this run included.
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"rows          {report.rows:,} (read back: {count_rows(out):,})")
        print(f"files         {len(report.files)} ({size / 2**20:,.1f} MiB)")
        print(f"seconds       {report.seconds:.2f}")
        print(f"rows/s        {report.rows_per_second:,.0f}")
        print(f"peak RSS      {peak_mib:,.0f} MiB")
        print(f"chunk rows    {args.chunk_rows:,}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
