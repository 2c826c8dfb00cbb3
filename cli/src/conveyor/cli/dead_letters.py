"""``conveyor dead-letters``: list (without taking), replay some or all, purge."""

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

PROG = "conveyor dead-letters"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("dead-letters", help="list, replay and purge dead letters")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="dead letters with reason and payload preview")
    listing.add_argument("--limit", type=int, default=50)
    add_gateway_options(listing)
    listing.set_defaults(func=lambda a: run_command(_list, a, prog=PROG))
    replay = commands.add_parser("replay", help="republish dead letters as attempt 1")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    add_gateway_options(replay)
    replay.set_defaults(func=lambda a: run_command(_replay, a, prog=PROG))
    purge = commands.add_parser("purge", help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", required=True, help="really purge")
    add_gateway_options(purge)
    purge.set_defaults(func=lambda a: run_command(_purge, a, prog=PROG))


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    body = await client.request(
        "GET", "/api/v1/admin/dead-letters", params={"limit": str(args.limit)}
    )
    if args.json:
        print_json(body)
        return 0
    rows = [
        (
            d["id"],
            d.get("job_type") or "",
            d.get("error_code") or "",
            d["reason"],
            d.get("dead_lettered_at") or "",
            d["payload_preview"][:60],
        )
        for d in body["dead_letters"]
    ]
    title = f"Dead letters ({len(rows)} of {body['total']})"
    print_table(title, ("id", "type", "code", "reason", "dead since", "payload"), rows)
    return 0


async def _replay(client: GatewayClient, args: argparse.Namespace) -> int:
    if args.all == bool(args.ids):
        raise CliUsageError("name the IDs to replay or pass --all")
    body = {"all": True} if args.all else {"ids": args.ids}
    result = await client.request("POST", "/api/v1/admin/dead-letters/replay", body=body)
    if args.json:
        print_json(result)
    else:
        for key in result["replayed"]:
            print(f"replayed {key}")
        for key in result["missing"]:
            print(f"missing {key}")
        for key in result["not_replayable"]:
            print(f"not replayable {key}")
    return 1 if result["missing"] or result["not_replayable"] else 0


async def _purge(client: GatewayClient, args: argparse.Namespace) -> int:
    result = await client.request("DELETE", "/api/v1/admin/dead-letters")
    if args.json:
        print_json(result)
    else:
        print(f"purged {result['purged']}")
    return 0
