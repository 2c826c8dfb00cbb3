"""``conveyor stats``: job counts by type and state over a time window."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import GatewayClient, add_gateway_options, print_json, run_command
from conveyor.cli._tables import print_table

PROG = "conveyor stats"
STATES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("stats", help="job counts by type and state (admin/operator)")
    parser.add_argument("--window", default="1h", help="15m, 1h, 24h, 7d ... (default 1h)")
    add_gateway_options(parser)
    parser.set_defaults(func=lambda a: run_command(_stats, a, prog=PROG))


async def _stats(client: GatewayClient, args: argparse.Namespace) -> int:
    body = await client.request("GET", "/api/v1/admin/stats/jobs", params={"window": args.window})
    if args.json:
        print_json(body)
        return 0
    rows = [
        (t["job_type"], t["total"], *(t["by_state"].get(s, 0) for s in STATES))
        for t in body["by_type"]
    ]
    title = f"Jobs created in the last {body['window']} ({body['total']})"
    print_table(title, ("type", "total", *STATES), rows)
    return 0
