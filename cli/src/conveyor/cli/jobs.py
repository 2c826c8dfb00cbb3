"""``conveyor jobs``: submit any job type, watch with progress bars, list, get, cancel, retry,
read results, download files, tail events."""

from __future__ import annotations

import argparse
from typing import Any

from conveyor.cli._download import download
from conveyor.cli._fields import parse_body
from conveyor.cli._gateway import (
    CliUsageError,
    GatewayClient,
    GatewayRequestError,
    add_gateway_options,
    print_json,
    run_command,
)
from conveyor.cli._results import print_result, size
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
    listing.add_argument(
        "--state",
        dest="states",
        action="append",
        default=[],
        metavar="STATE",
        help="only jobs in this state; repeat it or list several with commas "
        f"(--state queued,running). One of: {', '.join(s.value for s in JobState)}",
    )
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

    retry = commands.add_parser(
        "retry",
        help="submit a failed or cancelled job again",
        description="Submit the same request again as a new job (what the page's Retry does); "
        "prints the new job's id.",
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.add_argument("--watch", action="store_true", help="then follow it until it finishes")
    add_gateway_options(retry)
    retry.set_defaults(func=lambda a: run_command(_retry, a, prog=PROG))

    result = commands.add_parser(
        "result",
        help="print a finished job's result",
        description="Print what a succeeded job produced: tables for aggregates and search "
        "results, the sum, file or counts of the others. --json prints it as JSON.",
    )
    result.add_argument("job_id", metavar="JOB_ID")
    add_gateway_options(result)
    result.set_defaults(func=lambda a: run_command(_result, a, prog=PROG))

    fetch = commands.add_parser(
        "download",
        help="download a finished export's file",
        description="Stream the job's file from the gateway. Without -o it is saved under the "
        "name the gateway offers, in the current directory.",
    )
    fetch.add_argument("job_id", metavar="JOB_ID")
    fetch.add_argument(
        "-o", "--output", metavar="PATH", help="a file, a directory, or - for stdout"
    )
    fetch.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_gateway_options(fetch)
    fetch.set_defaults(func=lambda a: run_command(_download, a, prog=PROG))

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


def parse_states(values: list[str]) -> list[str]:
    """``--state`` values (repeated, or comma-separated) as known state names, in order."""
    known = [s.value for s in JobState]
    states = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for state in states:
        if state not in known:
            raise CliUsageError(f"--state {state!r}: not one of {', '.join(known)}")
    return list(dict.fromkeys(states))


async def _list(client: GatewayClient, args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    states = parse_states(args.states)
    if states:
        params["state"] = ",".join(states)
    for name in ("job_type", "cursor"):
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


RETRYABLE = ("failed", "cancelled")


async def _retry(client: GatewayClient, args: argparse.Namespace) -> int:
    record = await client.request("GET", f"/api/v1/jobs/{args.job_id}")
    if record["state"] not in RETRYABLE:
        raise GatewayRequestError(
            None, f"job {args.job_id} is {record['state']}: only failed or cancelled jobs retry"
        )
    # As the page does: the same request, as a new job of the same type.
    created = await client.request(
        "POST", f"/api/v1/jobs/{record['job_type']}", body=record["request"]
    )
    if args.json and not args.watch:
        print_json(created)
    else:
        print(created["job_id"], flush=True)
    if not args.watch:
        return 0
    final = await watch_jobs(client, [created["job_id"]], as_json=args.json)
    return 0 if set(final.values()) == {"succeeded"} else 1


async def _result(client: GatewayClient, args: argparse.Namespace) -> int:
    record = await client.request("GET", f"/api/v1/jobs/{args.job_id}")
    if record["state"] != "succeeded":
        reason = (record.get("error") or {}).get("message")
        why = f" ({reason})" if reason else ""
        raise GatewayRequestError(None, f"job {args.job_id} is {record['state']}{why}: no result")
    payload = record.get("result")
    if isinstance(payload, dict) and payload.get("type") == "cached":
        # Aggregates and search results are kept apart from the record.
        payload = await client.request("GET", f"/api/v1/jobs/{args.job_id}/result")
    if args.json:
        print_json(payload)
    else:
        print_result(args.job_id, record["job_type"], payload)
    return 0


async def _download(client: GatewayClient, args: argparse.Namespace) -> int:
    where, written = await download(client, args.job_id, out=args.output, force=args.force)
    if where != "-":
        print(f"{where} ({size(written)})")
    return 0


async def _events(client: GatewayClient, args: argparse.Namespace) -> int:
    await tail_events(
        client, job_id=args.job_id, from_start=args.from_start, count=args.count, as_json=args.json
    )
    return 0
