"""Following job events over the gateway's WebSocket (protocol in services/gateway/WEBSOCKET.md).

``watch_jobs`` shows a live progress bar per job on a terminal (one line per event
otherwise) until every job has finished, resuming from the last ``seq`` after a dropped
connection. ``tail_events`` prints events as they come.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Column
from rich.text import Text

from conveyor.cli._gateway import GatewayClient, GatewayRequestError
from conveyor.cli._results import summarize
from conveyor.cli._tables import console

FINAL = {"job.succeeded": "succeeded", "job.failed": "failed", "job.cancelled": "cancelled"}
STATE_OF_EVENT = {
    "job.queued": "queued",
    "job.started": "running",
    "job.progressed": "running",
    "job.retrying": "retrying",
    **FINAL,
}
"""The job's state once an event happened (the same table as the web page's)."""
RECONNECTS = 5
CLOSE_UNAUTHORIZED = 4401


class ElapsedColumn(ProgressColumn):
    """How long the job has run (from its ``job.started`` to its end, by the gateway's clock),
    labelled, so the column is not a bare time next to the counts."""

    def render(self, task: Task) -> Text:
        started: dt.datetime | None = task.fields.get("started_at")
        if started is None:
            return Text("not started", style="progress.elapsed")
        finished: dt.datetime | None = task.fields.get("finished_at")
        end = finished or dt.datetime.now(dt.UTC)
        seconds = max(0, int((end - started).total_seconds()))
        return Text(f"ran {dt.timedelta(seconds=seconds)}", style="progress.elapsed")


def _timestamp(event: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(event["at"]))
    except (KeyError, ValueError):
        return None


async def _messages(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            yield json.loads(message.data)
        elif message.type is aiohttp.WSMsgType.ERROR:
            break
    if ws.close_code == CLOSE_UNAUTHORIZED:
        raise GatewayRequestError(401, "the gateway refused the token on the WebSocket")


async def _welcome(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for message in _messages(ws):
        if message.get("type") == "welcome":
            return
    raise GatewayRequestError(None, f"the WebSocket closed before its welcome ({ws.close_code})")


def describe(event: dict[str, Any]) -> str:
    """One line for an event: what happened, with the numbers that matter."""
    kind = str(event.get("event", "?")).removeprefix("job.")
    detail = ""
    if kind == "progressed":
        total = event.get("total")
        detail = f"{event.get('done')}/{total}" if total else f"{event.get('done')}"
        if event.get("message"):
            detail += f" {event['message']}"
    elif kind in ("failed", "retrying") and event.get("error"):
        detail = event["error"].get("message", "")
    elif kind == "succeeded":
        detail = summarize(str(event.get("job_id", "?")), event.get("result"))
    elif kind in ("queued", "started"):
        detail = f"attempt {event.get('attempt', 1)}"
    elif kind == "cancelled":
        detail = event.get("reason", "")
    return f"{event.get('job_id', '?')} {event.get('job_type', '?')} {kind} {detail}".rstrip()


async def watch_jobs(client: GatewayClient, job_ids: list[str], *, as_json: bool) -> dict[str, str]:
    """Follow ``job_ids`` until each finished; returns job id -> final state (or error code)."""
    last_seq = dict.fromkeys(job_ids, 0)
    final: dict[str, str] = {}
    live = console.is_terminal and not as_json
    whole = Column(no_wrap=True)  # ids are copied from here: never folded
    progress = Progress(
        TextColumn("{task.description}", markup=False, table_column=whole),
        TextColumn("{task.fields[job_type]}", markup=False, table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[state]}", markup=False, table_column=Column(min_width=9)),
        BarColumn(),
        MofNCompleteColumn(),
        ElapsedColumn(),
        console=console,
        disable=not live,
    )
    bars = {
        job_id: progress.add_task(job_id, total=None, job_type="", state="waiting")
        for job_id in job_ids
    }
    with progress:
        for attempt in range(RECONNECTS + 1):
            try:
                async with client.ws_connect() as ws:
                    await _welcome(ws)
                    for job_id in job_ids:
                        if job_id not in final:
                            await ws.send_json(
                                {
                                    "type": "subscribe",
                                    "job_id": job_id,
                                    "after_seq": last_seq[job_id],
                                }
                            )
                    async for message in _messages(ws):
                        _apply(message, last_seq, final, progress, bars, live=live, as_json=as_json)
                        if len(final) == len(job_ids):
                            return final
            except aiohttp.ClientError as exc:
                if attempt == RECONNECTS:
                    raise GatewayRequestError(None, f"WebSocket failed: {exc}") from exc
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt))  # resume from last_seq
    raise GatewayRequestError(None, "lost the WebSocket too often; the jobs may still be running")


def _apply(
    message: dict[str, Any],
    last_seq: dict[str, int],
    final: dict[str, str],
    progress: Progress,
    bars: dict[str, Any],
    *,
    live: bool,
    as_json: bool,
) -> None:
    job_id = message.get("job_id")
    if message.get("type") == "error" and job_id in bars:
        final[job_id] = message.get("code", "error")
        console.print(f"{job_id} error {message.get('code')}: {message.get('message')}")
        return
    if message.get("type") != "event" or job_id not in bars:
        return
    seq = int(message.get("seq", 0))
    if seq <= last_seq[job_id]:
        return  # already shown before a reconnect
    last_seq[job_id] = seq
    event = message["event"]
    kind = event.get("event")
    bar = bars[job_id]
    fields: dict[str, Any] = {"job_type": event.get("job_type", "")}
    if kind in STATE_OF_EVENT:
        fields["state"] = STATE_OF_EVENT[kind]
    if kind == "job.started":
        fields["started_at"], fields["finished_at"] = _timestamp(event), None
    if kind == "job.progressed":
        progress.update(bar, completed=event.get("done", 0), total=event.get("total"))
    if kind in FINAL:
        final[job_id] = FINAL[kind]
        fields["finished_at"] = _timestamp(event)
        total = progress.tasks[bar].total or 1
        progress.update(bar, total=total, completed=total)
    progress.update(bar, **fields)
    if as_json:
        print(json.dumps(event), flush=True)
    elif not live or kind in FINAL:
        progress.console.print(describe(event), markup=False, highlight=False)


async def tail_events(
    client: GatewayClient,
    *,
    job_id: str | None,
    from_start: bool,
    count: int | None,
    as_json: bool,
) -> int:
    """Print events (of one job, or all the caller's) until ``count`` were shown or Ctrl-C."""
    shown = 0
    async with client.ws_connect() as ws:
        await _welcome(ws)
        if job_id is not None:
            await ws.send_json({"type": "subscribe", "job_id": job_id, "after_seq": 0})
        else:
            subscribe: dict[str, Any] = {"type": "subscribe", "all": True}
            if from_start:
                subscribe["after"] = "0"
            await ws.send_json(subscribe)
        async for message in _messages(ws):
            if message.get("type") == "error":
                raise GatewayRequestError(None, f"{message.get('code')}: {message.get('message')}")
            if message.get("type") == "subscribed":
                print("# following; Ctrl-C to stop", file=sys.stderr, flush=True)
                continue
            if message.get("type") != "event":
                continue
            event = message["event"]
            line = json.dumps(event) if as_json else f"{event.get('at', '')} {describe(event)}"
            print(line, flush=True)
            shown += 1
            if count is not None and shown >= count:
                break
    return shown
