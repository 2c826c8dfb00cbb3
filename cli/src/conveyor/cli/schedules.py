"""``conveyor schedules``: list, show, pause, resume, reschedule and run scheduled jobs."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import (
    CliUsageError,
    GatewayClient,
    GatewayRequestError,
    add_gateway_options,
    print_json,
    run_command,
)
from conveyor.cli._tables import print_table

PROG = "conveyor schedules"
BASE = "/api/v1/admin/schedules"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("schedules", help="scheduled jobs (admin; operator may list)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every schedule with its next and last run")
    add_gateway_options(listing)
    listing.set_defaults(func=lambda a: run_command(_list, a, prog=PROG))
    for action, help_text in (
        ("show", "one schedule"),
        ("pause", "stop firing a schedule"),
        ("resume", "fire a paused schedule again"),
        ("run", "run a schedule's job now"),
    ):
        command = commands.add_parser(action, help=help_text)
        command.add_argument("name", metavar="NAME")
        add_gateway_options(command)
        command.set_defaults(func=lambda a, action=action: run_command(_act(action), a, prog=PROG))
    trigger = commands.add_parser("trigger", help="reschedule: --cron EXPR or --every SECONDS")
    trigger.add_argument("name", metavar="NAME")
    trigger.add_argument("--cron", metavar="EXPR", help='e.g. "0 2 * * *"')
    trigger.add_argument("--every", type=int, metavar="SECONDS", help="an interval in seconds")
    add_gateway_options(trigger)
    trigger.set_defaults(func=lambda a: run_command(_trigger, a, prog=PROG))


async def _request(client: GatewayClient, method: str, path: str, body: Any = None) -> Any:
    try:
        return await client.request(method, path, body=body)
    except GatewayRequestError as exc:
        # aiohttp's own "Not Found" (no such route), not the API's "no schedule 'x'".
        if exc.status == 405 or (exc.status == 404 and exc.message == "Not Found"):
            raise GatewayRequestError(
                exc.status, "this gateway has no schedules API (is it an older version?)"
            ) from exc
        raise


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    body = await _request(client, "GET", BASE)
    if args.json:
        print_json(body)
        return 0
    schedules = body["schedules"] if isinstance(body, dict) else body
    rows = [
        (
            s.get("name"),
            s.get("job_type"),
            s.get("cron")
            or (
                f"every {s['interval_seconds']}s" if s.get("interval_seconds") else s.get("trigger")
            ),
            s.get("timezone"),
            "paused" if s.get("paused") else "active",
            s.get("next_run"),
            s.get("last_run"),
            s.get("last_outcome"),
        )
        for s in schedules
    ]
    columns = (
        "name",
        "job type",
        "trigger",
        "timezone",
        "state",
        "next run",
        "last run",
        "outcome",
    )
    print_table("Schedules", columns, rows)
    return 0


def _act(action: str) -> Any:
    async def run(client: GatewayClient, args: argparse.Namespace) -> int:
        if action == "show":
            print_json(await _request(client, "GET", f"{BASE}/{args.name}"))
            return 0
        body = await _request(client, "POST", f"{BASE}/{args.name}/{action}")
        if args.json:
            print_json(body)
        elif action == "run" and isinstance(body, dict) and body.get("job_id"):
            print(body["job_id"])
        else:
            print(f"{args.name}: {action} done")
        return 0

    return run


async def _trigger(client: GatewayClient, args: argparse.Namespace) -> int:
    if (args.cron is None) == (args.every is None):
        raise CliUsageError("give exactly one of --cron EXPR or --every SECONDS")
    body = {"cron": args.cron} if args.cron is not None else {"interval_seconds": args.every}
    result = await _request(client, "PUT", f"{BASE}/{args.name}/trigger", body)
    if args.json:
        print_json(result)
    else:
        print(f"{args.name}: rescheduled")
    return 0
