"""``conveyor workers``: list workers (alive and dead) and drain one or all of them."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import (
    CliUsageError,
    GatewayClient,
    add_gateway_options,
    print_json,
    run_command,
)
from conveyor.cli._tables import print_table

PROG = "conveyor workers"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("workers", help="list and drain workers (admin/operator)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="workers from their heartbeats")
    add_gateway_options(listing)
    listing.set_defaults(func=lambda a: run_command(_list, a, prog=PROG))
    drain = commands.add_parser(
        "drain", help="let a worker (or --all) finish its running jobs and exit"
    )
    drain.add_argument("instance", nargs="?", metavar="INSTANCE")
    drain.add_argument("--all", action="store_true", help="drain every worker")
    add_gateway_options(drain)
    drain.set_defaults(func=lambda a: run_command(_drain, a, prog=PROG))


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    body = await client.request("GET", "/api/v1/admin/workers")
    if args.json:
        print_json(body)
        return 0
    rows = [
        (
            w["instance"],
            w["service"],
            w["status"],
            f"{w['host']}:{w['pid']}",
            f"{len(w['running_jobs'])}/{w['concurrency']}",
            w["processed"],
            w["failed"],
            f"{w['seconds_since_seen']:.1f}s ago",
        )
        for w in body["workers"]
    ]
    columns = (
        "instance",
        "service",
        "status",
        "host:pid",
        "running",
        "processed",
        "failed",
        "seen",
    )
    print_table("Workers", columns, rows)
    return 0


async def _drain(client: GatewayClient, args: argparse.Namespace) -> int:
    if args.all == bool(args.instance):
        raise CliUsageError("name one INSTANCE or pass --all")
    path = (
        "/api/v1/admin/workers/drain"
        if args.all
        else f"/api/v1/admin/workers/{args.instance}/drain"
    )
    body = await client.request("POST", path)
    if args.json:
        print_json(body)
    else:
        print(f"draining {args.instance or 'every worker'}")
    return 0
