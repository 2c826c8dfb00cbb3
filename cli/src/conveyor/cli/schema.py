"""``conveyor schema``: the JSON Schema of every contract, for clients that do not use Python."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conveyor.contracts.schema import json_schema


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of all contracts",
        description="Print one JSON Schema document: $defs holds every contract type.",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write the schema to FILE instead of stdout"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
