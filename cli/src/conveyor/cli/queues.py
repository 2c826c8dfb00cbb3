"""``conveyor queues``: depth, consumers and rates of the job queues."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import GatewayClient, add_gateway_options, print_json, run_command
from conveyor.cli._tables import console, print_table

PROG = "conveyor queues"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "queues", help="queue depth, consumers and rates (admin/operator)"
    )
    add_gateway_options(parser)
    parser.set_defaults(func=lambda a: run_command(_list, a, prog=PROG))


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}/s"


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    body = await client.request("GET", "/api/v1/admin/queues")
    if args.json:
        print_json(body)
        return 0
    rows = [
        (
            q["name"],
            q["kind"],
            q["messages"],
            q["consumers"],
            _rate(q.get("depth_rate")),
            "" if q.get("enqueued_per_second") is None else f"{q['enqueued_per_second']:.2f}/s",
            ", ".join(q["job_types"]),
        )
        for q in body["queues"]
    ]
    columns = ("queue", "kind", "messages", "consumers", "depth change", "enqueued", "job types")
    print_table("Queues", columns, rows)
    if body.get("paused_job_types"):
        console.print("paused: " + ", ".join(body["paused_job_types"]), highlight=False)
    return 0
