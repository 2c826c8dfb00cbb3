"""``conveyor stats``: job counts by type and state over a time window; ``conveyor stats daily``:
the dataset's cached daily statistics."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import GatewayClient, add_gateway_options, print_json, run_command
from conveyor.cli._tables import print_table

PROG = "conveyor stats"
STATES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")
DAILY_PATH = "/api/v1/statistics/daily"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("stats", help="job counts by type and state (admin/operator)")
    parser.add_argument("--window", default="1h", help="15m, 1h, 24h, 7d ... (default 1h)")
    add_gateway_options(parser)
    parser.set_defaults(func=lambda a: run_command(_stats, a, prog=PROG))
    commands = parser.add_subparsers(title="commands", metavar="{daily}")
    daily = commands.add_parser(
        "daily",
        help="the dataset's daily statistics (any user): the newest day, one day or a range",
        description="Without options: the newest computed day. The gateway refuses a range of"
        " more than 31 days.",
    )
    which = daily.add_mutually_exclusive_group()
    which.add_argument("--date", metavar="YYYY-MM-DD", help="one day")
    which.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day of a range")
    daily.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day of a range")
    add_gateway_options(daily)
    daily.set_defaults(func=lambda a: run_command(_daily, a, prog=f"{PROG} daily"))


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


async def _daily(client: GatewayClient, args: argparse.Namespace) -> int:
    # The gateway checks the dates and the range and names the parameter at fault.
    params = {
        name: value
        for name, value in (("date", args.date), ("from", args.start), ("to", args.end))
        if value is not None
    }
    body = await client.request("GET", DAILY_PATH, params=params)
    if args.json:
        print_json(body)
    elif "days" in body:
        _print_range(body)
    else:
        _print_day(body)
    return 0


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _print_day(stats: dict[str, Any]) -> None:
    rows = [
        ("awards up to the day", f"{stats['awards']:,}"),
        ("total contract amount (PHP)", _money(stats["total_contract_amount"])),
        (
            "average / median amount",
            f"{_money(stats['average_contract_amount'])} / "
            f"{_money(stats['median_contract_amount'])}",
        ),
        ("contractors", f"{stats['contractors']:,}"),
        ("procuring entities", f"{stats['procuring_entities']:,}"),
        ("award dates", f"{stats['first_award_date'] or '-'} to {stats['last_award_date'] or '-'}"),
        ("awards on the day", f"{stats['day_awards']:,}"),
        ("amount awarded on the day", _money(stats["day_contract_amount"])),
        ("dataset version", stats["dataset_version"]),
        ("computed at", stats["computed_at"]),
    ]
    print_table(f"Daily statistics for {stats['day']}", ("figure", "value"), rows)


def _print_range(body: dict[str, Any]) -> None:
    rows = [
        (
            s["day"],
            f"{s['day_awards']:,}",
            _money(s["day_contract_amount"]),
            f"{s['awards']:,}",
            _money(s["total_contract_amount"]),
        )
        for s in body["days"]
    ]
    columns = ("day", "awards on the day", "amount on the day", "awards to date", "total to date")
    print_table(f"Daily statistics from {body['start']} to {body['end']}", columns, rows)
    if body["missing"]:
        print(f"no statistics cached for: {', '.join(body['missing'])}")
