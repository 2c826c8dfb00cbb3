"""``conveyor jobs``: submit any job type, watch with progress bars, list, get, cancel, tail."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._fields import parse_body
from conveyor.cli._gateway import (
    GatewayClient,
    add_gateway_options,
    print_json,
    run_command,
)
from conveyor.cli._tables import console, print_table
from conveyor.cli._watching import tail_events, watch_jobs
from conveyor.contracts.jobs import JOB_REQUEST_TYPES
from conveyor.contracts.records import JobState

PROG = "conveyor jobs"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="submit, watch, list, cancel jobs and tail their events (through the gateway)",
        description="Work with jobs through the gateway's HTTP API and WebSocket.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    submit = commands.add_parser(
        "submit",
        help="submit a job of any type",
        description="Submit a job. The body comes from --body and/or --set options; values "
        "that parse as JSON are JSON (--set numbers=[1,2]), others are strings (--set format=csv).",
    )
    submit.add_argument("job_type", metavar="TYPE", help=", ".join(sorted(JOB_REQUEST_TYPES)))
    submit.add_argument("--body", dest="body_json", metavar="JSON", help="the body, or @FILE")
    submit.add_argument(
        "--set",
        dest="fields",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='a field (dotted keys for nested ones: filters.keywords=["road"])',
    )
    submit.add_argument(
        "--idempotency-key", metavar="KEY", help="resubmitting returns the same job"
    )
    submit.add_argument("--watch", action="store_true", help="then follow it until it finishes")
    add_gateway_options(submit)
    submit.set_defaults(func=lambda a: run_command(_submit, a, prog=PROG))

    watch = commands.add_parser("watch", help="follow jobs with live progress until they finish")
    watch.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    add_gateway_options(watch)
    watch.set_defaults(func=lambda a: run_command(_watch, a, prog=PROG))

    listing = commands.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--type", dest="job_type", choices=sorted(JOB_REQUEST_TYPES))
    listing.add_argument("--state", choices=[s.value for s in JobState])
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--all", action="store_true", help="admins: every user's jobs")
    listing.add_argument("--cursor", help="the next_cursor a previous page printed")
    add_gateway_options(listing)
    listing.set_defaults(func=lambda a: run_command(_list, a, prog=PROG))

    get = commands.add_parser("get", help="show one job")
    get.add_argument("job_id", metavar="JOB_ID")
    add_gateway_options(get)
    get.set_defaults(func=lambda a: run_command(_get, a, prog=PROG))

    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")
    add_gateway_options(cancel)
    cancel.set_defaults(func=lambda a: run_command(_cancel, a, prog=PROG))

    events = commands.add_parser("events", help="tail job events as they happen")
    events.add_argument("--job", dest="job_id", metavar="JOB_ID", help="only this job's events")
    events.add_argument(
        "--from-start", action="store_true", help="first replay the kept history of your jobs"
    )
    events.add_argument("--count", type=int, metavar="N", help="stop after N events")
    add_gateway_options(events)
    events.set_defaults(func=lambda a: run_command(_events, a, prog=PROG))


async def _submit(client: GatewayClient, args: argparse.Namespace) -> int:
    body = parse_body(args.body_json, args.fields)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    record = await client.request(
        "POST", f"/api/v1/jobs/{args.job_type}", body=body, headers=headers
    )
    if args.json and not args.watch:
        print_json(record)
    else:
        print(record["job_id"], flush=True)
    if not args.watch:
        return 0
    final = await watch_jobs(client, [record["job_id"]], as_json=args.json)
    return 0 if set(final.values()) == {"succeeded"} else 1


async def _watch(client: GatewayClient, args: argparse.Namespace) -> int:
    final = await watch_jobs(client, list(dict.fromkeys(args.job_ids)), as_json=args.json)
    return 0 if set(final.values()) == {"succeeded"} else 1


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    for name in ("job_type", "state", "cursor"):
        if getattr(args, name):
            params["type" if name == "job_type" else name] = getattr(args, name)
    if args.all:
        params["all"] = "true"
    page = await client.request("GET", "/api/v1/jobs", params=params)
    if args.json:
        print_json(page)
        return 0
    rows = [
        (j["job_id"], j["job_type"], j["owner"], j["state"], _progress(j), j["created_at"])
        for j in page["jobs"]
    ]
    print_table("Jobs", ("job id", "type", "owner", "state", "progress", "created"), rows)
    if page.get("next_cursor"):
        console.print(f"more: --cursor {page['next_cursor']}", highlight=False)
    return 0


def _progress(job: dict[str, Any]) -> str:
    progress = job.get("progress")
    if not progress:
        return ""
    total = progress.get("total")
    return f"{progress.get('done')}/{total}" if total else str(progress.get("done"))


async def _get(client: GatewayClient, args: argparse.Namespace) -> int:
    print_json(await client.request("GET", f"/api/v1/jobs/{args.job_id}"))
    return 0


async def _cancel(client: GatewayClient, args: argparse.Namespace) -> int:
    record = await client.request("POST", f"/api/v1/jobs/{args.job_id}/cancel")
    if args.json:
        print_json(record)
    else:
        print(f"{record['job_id']} {record['state']}")
    return 0


async def _events(client: GatewayClient, args: argparse.Namespace) -> int:
    await tail_events(
        client, job_id=args.job_id, from_start=args.from_start, count=args.count, as_json=args.json
    )
    return 0
