"""The WebSocket fan-out benchmark's load generator: the producer of progress events and the
watching connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import msgspec

from bench._fanout_tally import ProgressEvent, Tally
from bench._light_websocket import LightSocket, connect
from conveyor.contracts.events import JobProgressed, JobQueued, JobStarted
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.tokens import mint_token

SECRET = "bench-secret-0123456789abcdef0123456789"
CONNECT_CONCURRENCY = 50
"""Connections opened at once (the gateway's accept backlog and auth are the limit)."""


class _Frame(msgspec.Struct):
    type: str
    event: ProgressEvent | None = None


_frame = msgspec.json.Decoder(_Frame)


class Producer:
    """Records and announces progress events as the worker harness does."""

    def __init__(self, store: JobStore, lifecycle: JobLifecycle) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.tally: Tally | None = None

    async def start_job(self, owner: str) -> JobEnvelope:
        envelope = JobEnvelope(
            request=DiagnosticsRequest(), owner=owner, priority=Priority.INTERACTIVE
        )
        base = {"job_id": envelope.job_id, "job_type": "diagnostics", "owner": owner}
        started = await self.store.start(
            envelope,
            JobQueued(**base),
            JobStarted(**base, worker="bench"),
            worker="bench",
            max_crashes=3,
            trace_id=None,
        )
        assert started.started is not None
        return envelope

    async def progress(self, envelope: JobEnvelope, done: int, total: int) -> None:
        event = JobProgressed(
            job_id=envelope.job_id,
            job_type="diagnostics",
            owner=envelope.owner,
            done=done,
            total=total,
            message=f"t={time.time():.6f}",
        )
        outcome = await self.store.transition(
            envelope.job_id,
            envelope.owner,
            allowed=[JobState.RUNNING],
            to=JobState.RUNNING,
            event=event,
        )
        if not outcome.ok or outcome.event is None:
            raise RuntimeError(f"progress of {envelope.job_id} not recorded: {outcome}")
        if self.tally is not None:
            produced = float(event.message[2:])  # type: ignore[index]
            self.tally.recorded[(event.job_id, outcome.event.seq)] = time.time() - produced
        self.lifecycle.announce(event, outcome.event)


async def paced(items: Iterable[tuple[JobEnvelope, int, int]], rate: float, p: Producer) -> float:
    """Produce ``items`` at ``rate`` per second; returns the rate achieved.

    Whatever is due is produced together, so a slow round trip is caught up in the next batch
    instead of lowering the rate.
    """
    pending = list(items)
    sent = 0
    started = time.perf_counter()
    while sent < len(pending):
        due = min(len(pending), int((time.perf_counter() - started) * rate) + 1)
        batch = pending[sent:due]
        sent = due
        await asyncio.gather(*(p.progress(job, done, total) for job, done, total in batch))
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return len(pending) / (time.perf_counter() - started)


class Watcher:
    """One connection of the load generator: subscribes, then feeds events to the tally."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.tally: Tally | None = None
        self.socket: LightSocket | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_text(self, payload: bytes) -> None:
        frame = _frame.decode(payload)
        if frame.type == "event":
            if self.tally is not None:
                self.tally.take(self.index, frame.event)
        elif frame.type == "subscribed" and not self.subscribed.done():
            self.subscribed.set_result(None)
        elif frame.type == "error" and not self.subscribed.done():
            self.subscribed.set_exception(RuntimeError(payload.decode()))


async def open_socket(url: str, index: int, user: str, subscribe: dict[str, object]) -> Watcher:
    watcher = Watcher(index)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, user)}"}
    watcher.socket = await connect(f"{url}/ws", headers, watcher.on_text)
    watcher.socket.send_text(msgspec.json.encode({"type": "subscribe", **subscribe}))
    await asyncio.wait_for(watcher.subscribed, 60)
    return watcher


async def open_sockets(url: str, specs: list[tuple[str, dict[str, object]]]) -> list[Watcher]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int, user: str, subscribe: dict[str, object]) -> Watcher:
        async with gate:
            return await open_socket(url, index, user, subscribe)

    return list(await asyncio.gather(*(one(i, u, sub) for i, (u, sub) in enumerate(specs))))


def close_sockets(watchers: list[Watcher]) -> None:
    for watcher in watchers:
        if watcher.socket is not None:
            watcher.socket.close()
