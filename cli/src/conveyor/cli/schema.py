"""``conveyor schema``: the JSON Schema of every contract (or, with ``--asyncapi``, the AsyncAPI
document of the AMQP interface), for clients that do not use Python."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conveyor.contracts.asyncapi import build_asyncapi, public_server_url
from conveyor.contracts.schema import json_schema
from conveyor.contracts.topology import Topology
from conveyor.runtime.settings import Settings, SettingsError, load_settings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of all contracts",
        description="Print one JSON Schema document: $defs holds every contract type.",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write the schema to FILE instead of stdout"
    )
    parser.add_argument(
        "--asyncapi",
        action="store_true",
        help="print the AsyncAPI document of the AMQP interface instead "
        "(exchanges named for CONVEYOR_NAMESPACE, the server from CONVEYOR_AMQP_URL without "
        "its credentials), as the gateway serves it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.asyncapi:
        try:
            settings = load_settings(Settings)
        except SettingsError as exc:
            print(f"conveyor schema: {exc}", file=sys.stderr)
            return 2
        document = build_asyncapi(
            Topology(settings.namespace), server_url=public_server_url(settings.amqp_url)
        )
    else:
        document = json_schema()
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
