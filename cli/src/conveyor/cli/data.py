"""`conveyor data`: generate, import and describe the awards dataset."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from conveyor.awards.errors import DatasetLockedError
from conveyor.awards.generator import DEFAULT_CHUNK_ROWS, DatasetExistsError, generate
from conveyor.awards.importer import import_files
from conveyor.awards.schema import count_rows, dataset_files, dataset_version


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``data`` command and its subcommands to the CLI's parser."""
    parser = subparsers.add_parser("data", help="generate, import and describe award datasets")
    commands = parser.add_subparsers(dest="data_command", required=True)

    gen = commands.add_parser("generate", help="write a deterministic synthetic dataset")
    gen.add_argument("--rows", type=int, required=True, help="number of awards")
    gen.add_argument("--out", type=Path, required=True, help="dataset directory")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows per file")
    gen.add_argument("--marginals", type=Path, help="directory of agg_*.parquet (default: bundled)")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    gen.add_argument(
        "--if-missing",
        action="store_true",
        help="succeed without writing when OUT already holds a dataset (a first-start step)",
    )

    imp = commands.add_parser(
        "import",
        help="import public award CSV/XLSX files (a re-imported award replaces the old one)",
        description="Exit status: 0 when every file was read and at least one row imported; "
        "1 when a file was unreadable or nothing was imported; 2 on a usage error.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--out", type=Path, required=True, help="dataset directory")
    imp.add_argument(
        "--rejects",
        type=Path,
        help="CSV file listing every rejected row and unreadable file "
        "(default: import-reports/<time>-rejects.csv beside the dataset directory)",
    )
    imp.add_argument(
        "--no-announce", action="store_true", help="do not publish dataset.updated afterwards"
    )

    info = commands.add_parser("info", help="rows, files and version of a dataset")
    info.add_argument("dir", type=Path)

    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the ``data`` subcommand in ``args``; the exit status."""
    match args.data_command:
        case "generate":
            return _generate(args)
        case "import":
            return _import(args)
        case "info":
            return _info(args.dir)
    raise AssertionError(f"unknown data command {args.data_command!r}")


def _generate(args: argparse.Namespace) -> int:
    try:
        report = generate(
            args.rows,
            args.out,
            seed=args.seed,
            chunk_rows=args.chunk_rows,
            marginals_dir=args.marginals,
            overwrite=args.overwrite,
        )
    except DatasetExistsError as exc:
        if args.if_missing:
            print(f"kept      {exc}")
            return 0
        print(f"conveyor data generate: {exc}; use --overwrite", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"conveyor data generate: {exc}", file=sys.stderr)
        return 2
    print(f"rows      {report.rows:,}")
    print(f"files     {len(report.files)}")
    print(f"seconds   {report.seconds:.2f}")
    print(f"rows/s    {report.rows_per_second:,.0f}")
    print(f"version   {report.version}")
    return 0


def _import(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(f"conveyor data import: {out} is not a directory", file=sys.stderr)
        return 2
    rejects = args.rejects or default_rejects_file(out, dt.datetime.now(dt.UTC))
    try:
        report = import_files(args.files, out, rejects_file=rejects)
    except DatasetLockedError as exc:
        print(f"conveyor data import: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    # Announced whenever the dataset changed, even if another file was unreadable.
    if report.rows_imported and not args.no_announce:
        _announce(out)
    return 0 if report.succeeded else 1


def default_rejects_file(dataset_dir: Path, now: dt.datetime) -> Path:
    """``import-reports/<UTC time>-rejects.csv`` beside the dataset directory."""
    return dataset_dir.parent / "import-reports" / f"{now:%Y%m%dT%H%M%S%fZ}-rejects.csv"


def _info(directory: Path) -> int:
    if not directory.is_dir():
        print(f"conveyor data info: {directory} is not a directory", file=sys.stderr)
        return 2
    files = dataset_files(directory)
    size = sum(f.stat().st_size for f in files)
    print(f"rows      {count_rows(directory):,}")
    print(f"files     {len(files)} ({size / 2**20:,.1f} MiB)")
    print(f"version   {dataset_version(directory)}")
    return 0


def _announce(directory: Path) -> None:
    """Publish ``dataset.updated``; the import stands even when RabbitMQ cannot be reached."""
    import asyncio

    from conveyor.cli.dataset_events import publish_dataset_updated
    from conveyor.runtime.broker import BrokerUnavailableError
    from conveyor.runtime.settings import SettingsError

    try:
        event = asyncio.run(publish_dataset_updated(directory, source="conveyor data import"))
    except (BrokerUnavailableError, SettingsError) as exc:
        print(f"conveyor data import: dataset.updated not published: {exc}", file=sys.stderr)
        return
    print(f"announced dataset.updated (version {event.version})")
