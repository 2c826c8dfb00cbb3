"""``conveyor job-types``: pause and resume consuming a job type (its messages stay queued)."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._gateway import GatewayClient, add_gateway_options, print_json, run_command
from conveyor.contracts.jobs import JOB_REQUEST_TYPES

PROG = "conveyor job-types"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("job-types", help="pause or resume a job type (admin)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for action in ("pause", "resume"):
        command = commands.add_parser(action, help=f"{action} consuming jobs of a type")
        command.add_argument("job_type", metavar="TYPE", help=", ".join(sorted(JOB_REQUEST_TYPES)))
        add_gateway_options(command)
        command.set_defaults(
            func=lambda a, action=action: run_command(_control(action), a, prog=PROG)
        )


def _control(action: str) -> Any:
    async def run(client: GatewayClient, args: argparse.Namespace) -> int:
        body = await client.request("POST", f"/api/v1/admin/job-types/{args.job_type}/{action}")
        if args.json:
            print_json(body)
        else:
            paused = ", ".join(body["paused_job_types"]) or "none"
            print(f"{action}d {args.job_type} (paused now: {paused})")
        return 0

    return run
