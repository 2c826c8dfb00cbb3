"""One WebSocket connection's subscriptions and the exactness algorithm that feeds them.

Everything a connection does (client requests, live events, catch-ups) goes through one
bounded inbox processed by one task, so a subscription's history and the live events that
follow it are handled strictly in order. Per job we keep the last delivered ``seq``; per
"all my jobs" subscription the last delivered owner-stream cursor. A live event at or below
that mark is a duplicate; one that does not follow it directly means events went missing (or
arrive later), and the gap is read from Redis, which recorded every event before it was
announced.

Steady state skips the task: a live event that directly follows what a connection delivered,
arriving while that connection's inbox is empty, its task idle and its socket buffer empty,
is written to the socket on the spot as the pre-built frame (see ``aiohttp_bridge``; never in
the ``plain`` transport mode). Anything else (a gap, a catch-up or request in progress,
backpressure) takes the inbox, and so does every event after it until the inbox has drained,
which keeps the order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import msgspec
from aiohttp import WSMsgType, web

from conveyor.contracts.errors import ErrorCode
from conveyor.gateway.ws.aiohttp_bridge import DirectWriter
from conveyor.gateway.ws.delivery_rules import CATCH_UP, DELIVER, decide, decide_job
from conveyor.gateway.ws.intake import EventIntake, LiveEvent, Resync
from conveyor.gateway.ws.protocol import (
    Error,
    EventMessage,
    Ping,
    Pong,
    ServerMessage,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    encode_text,
    stream_position,
)
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.tokens import Principal

log = logging.getLogger(__name__)

HISTORY_PAGE = 1000


@dataclass(slots=True)
class Invalid:
    """A client message that did not decode; answered in order with the others."""

    message: str


@dataclass(slots=True)
class Reply:
    """An answer decided outside the session (a token refresh), sent in order with the rest."""

    message: ServerMessage


Item: TypeAlias = Subscribe | Unsubscribe | Ping | Invalid | Reply | LiveEvent | Resync


@dataclass(slots=True)
class JobSubscription:
    owner: str
    last_seq: int


@dataclass(slots=True)
class AllSubscription:
    owner: str
    cursor: str
    position: tuple[int, int]

    def advance(self, cursor: str) -> None:
        self.cursor, self.position = cursor, stream_position(cursor)


class Session:
    """The subscriptions of one authenticated connection."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        *,
        store: JobStore,
        intake: EventIntake,
        metrics: Metrics,
        inbox_size: int,
        on_overflow: Callable[[], None],
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.principal = principal
        self._store = store
        self._intake = intake
        self._metrics = metrics
        self._history_reads = {
            reason: metrics.ws_history_reads.labels(reason)
            for reason in ("subscribe", "gap", "resync")
        }
        self._inbox: asyncio.Queue[Item] = asyncio.Queue(inbox_size)
        self._on_overflow = on_overflow
        self._direct = DirectWriter(ws, transport)
        self._busy = False
        """The task is handling an item (it may be awaiting a socket, Redis or a bind)."""
        self.overflowed = False
        self.stopped = False
        """Set when the connection is closing for another reason: nothing more is sent."""
        self.jobs: dict[str, JobSubscription] = {}
        self.all: AllSubscription | None = None

    # -- intake side ---------------------------------------------------------------------------

    def offer(self, item: Item) -> None:
        if self.overflowed or self.stopped:
            return
        if (
            type(item) is LiveEvent
            and not self._busy
            and self._inbox.empty()
            and self._deliver_now(item)
        ):
            return
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            # Dropping silently would break the no-gap promise; the client resumes instead.
            self.overflowed = True
            self._on_overflow()

    async def run(self) -> None:
        while True:
            item = await self._inbox.get()
            self._busy = True
            try:
                await self._handle(item)
            finally:
                self._busy = False

    def _deliver_now(self, event: LiveEvent) -> bool:
        """Deliver ``event`` synchronously if it needs no catch-up and the socket takes it.

        Returns False (nothing done) when the event must go through the inbox instead. Asks
        ``delivery_rules`` exactly as ``_on_live_job`` and ``_on_live_all`` do.
        """
        job = self.jobs.get(event.job_id)
        for_job = decide_job(job.last_seq, event.seq) if job is not None else None
        every = self.all if self.all is not None and self.all.owner == event.owner else None
        for_all = (
            decide(every.position, event.position, event.prev_position)
            if every is not None
            else None
        )
        if for_job is CATCH_UP or for_all is CATCH_UP:
            return False
        if for_job is not DELIVER and for_all is not DELIVER:
            return True  # duplicates, or nobody here watches it
        if not self._direct.ready():
            return False
        if job is not None and for_job is DELIVER:
            self._direct.write(event.wire(for_job=True))
            job.last_seq = event.seq
            self._metrics.ws_events_sent.inc()
        if every is not None and for_all is DELIVER:
            # A placed event has a cursor; its position is parsed once for all connections.
            assert event.cursor is not None
            assert event.position is not None
            self._direct.write(event.wire(for_job=False))
            every.cursor, every.position = event.cursor, event.position
            self._metrics.ws_events_sent.inc()
        return True

    async def close(self) -> None:
        """Release every binding this connection held."""
        owners = {sub.owner for sub in self.jobs.values()}
        if self.all is not None:
            owners.add(self.all.owner)
        self.jobs.clear()
        self.all = None
        for owner in owners:
            await self._intake.release(owner, self, all_of_it=True)

    # -- dispatch ------------------------------------------------------------------------------

    async def _handle(self, item: Item) -> None:
        match item:
            case LiveEvent():
                await self._on_live(item)
            case Resync():
                await self._resync()
            case Subscribe(all=True):
                await self._subscribe_all(item)
            case Subscribe():
                await self._subscribe_job(item)
            case Unsubscribe():
                await self._unsubscribe(item)
            case Ping():
                await self._send(Pong())
            case Reply(message=message):
                await self._send(message)
            case Invalid(message=message):
                await self._error(message)

    async def _send(self, message: ServerMessage) -> None:
        await self.ws.send_str(encode_text(message))

    async def _error(
        self, message: str, code: ErrorCode = ErrorCode.INVALID_REQUEST, job_id: str | None = None
    ) -> None:
        await self._send(Error(code=code.value, message=message, job_id=job_id))

    async def _deliver(self, message: EventMessage) -> None:
        await self._send(message)
        self._metrics.ws_events_sent.inc()

    async def _deliver_live(self, event: LiveEvent, *, for_job: bool) -> None:
        await self.ws.send_frame(event.frame(for_job=for_job), WSMsgType.TEXT)
        self._metrics.ws_events_sent.inc()

    # -- job subscriptions ---------------------------------------------------------------------

    async def _subscribe_job(self, request: Subscribe) -> None:
        job_id = request.job_id
        if job_id is None or request.after is not None:
            await self._error("subscribe needs either job_id (with after_seq) or all: true")
            return
        if job_id in self.jobs:
            await self._error(f"already subscribed to job {job_id}", job_id=job_id)
            return
        record = await self._store.get(job_id)
        if record is None or not self.principal.can_see(record.owner):
            await self._error(f"no job {job_id!r}", ErrorCode.NOT_FOUND, job_id)
            return
        # Bind before reading history: an event recorded after the read is then announced
        # to us, and one recorded before it is in the history (duplicates are dropped).
        await self._intake.acquire(record.owner, self)
        sub = JobSubscription(owner=record.owner, last_seq=request.after_seq)
        self.jobs[job_id] = sub
        await self._catch_up_job(job_id, sub, "subscribe")
        await self._send(Subscribed(job_id=job_id, seq=sub.last_seq))

    async def _catch_up_job(
        self, job_id: str, sub: JobSubscription, reason: str, live: LiveEvent | None = None
    ) -> None:
        """Deliver the recorded events after ``sub.last_seq``, in order."""
        self._history_reads[reason].inc()
        while True:
            rows = await self._store.events_after(job_id, sub.last_seq, limit=HISTORY_PAGE)
            for seq, body in rows:
                if seq <= sub.last_seq:
                    continue
                known = live.cursor if live is not None and live.seq == seq else None
                await self._deliver(
                    EventMessage(job_id=job_id, seq=seq, cursor=known, event=msgspec.Raw(body))
                )
                sub.last_seq = seq
            if len(rows) < HISTORY_PAGE:
                return

    async def _on_live_job(self, event: LiveEvent, sub: JobSubscription) -> None:
        action = decide_job(sub.last_seq, event.seq)
        if action is CATCH_UP:
            # Events between are missing or still in flight: read them (and this one) from
            # Redis; their late live copies will then be dropped as duplicates.
            await self._catch_up_job(event.job_id, sub, "gap", live=event)
            action = decide_job(sub.last_seq, event.seq, caught_up=True)
        if action is DELIVER:
            await self._deliver_live(event, for_job=True)
            sub.last_seq = event.seq

    # -- "all my jobs" -------------------------------------------------------------------------

    async def _subscribe_all(self, request: Subscribe) -> None:
        if request.job_id is not None or request.after_seq:
            await self._error("subscribe needs either job_id (with after_seq) or all: true")
            return
        if self.all is not None:
            await self._error("already subscribed to all jobs")
            return
        if request.after is not None:
            try:
                position = stream_position(request.after)
            except ValueError as exc:
                await self._error(str(exc))
                return
        owner = self.principal.user
        await self._intake.acquire(owner, self)  # bind first, as for a job
        if request.after is None:
            # Only what happens from now on: everything up to the newest entry is "seen".
            cursor = await self._store.latest_owner_cursor(owner)
            self.all = AllSubscription(owner, cursor, stream_position(cursor))
        else:
            self.all = AllSubscription(owner, request.after, position)
            await self._catch_up_all(self.all, "subscribe")
        await self._send(Subscribed(all=True, cursor=self.all.cursor))

    async def _catch_up_all(
        self, sub: AllSubscription, reason: str, until: tuple[int, int] | None = None
    ) -> None:
        """Deliver the owner's recorded events after ``sub.cursor`` (up to ``until``)."""
        self._history_reads[reason].inc()
        while True:
            entries = await self._store.owner_events_after(
                sub.owner, sub.cursor, limit=HISTORY_PAGE
            )
            for entry in entries:
                position = stream_position(entry.cursor)
                if until is not None and position > until:
                    return
                await self._deliver(
                    EventMessage(cursor=entry.cursor, event=msgspec.Raw(entry.body))
                )
                sub.advance(entry.cursor)
            if len(entries) < HISTORY_PAGE:
                return

    async def _on_live_all(self, event: LiveEvent, sub: AllSubscription) -> None:
        # Without a cursor (no position) we cannot place the event, but Redis can; with one,
        # events of other jobs may have come before it and not arrived (yet).
        action = decide(sub.position, event.position, event.prev_position)
        if action is CATCH_UP:
            await self._catch_up_all(sub, "gap", until=event.position)
            action = decide(sub.position, event.position, event.prev_position, caught_up=True)
        if action is DELIVER:
            assert event.cursor is not None  # a placed event has a cursor
            await self._deliver_live(event, for_job=False)
            sub.advance(event.cursor)

    # -- both ----------------------------------------------------------------------------------

    async def _on_live(self, event: LiveEvent) -> None:
        sub = self.jobs.get(event.job_id)
        if sub is not None:
            await self._on_live_job(event, sub)
        if self.all is not None and event.owner == self.all.owner:
            await self._on_live_all(event, self.all)

    async def _resync(self) -> None:
        for job_id, sub in list(self.jobs.items()):
            await self._catch_up_job(job_id, sub, "resync")
        if self.all is not None:
            await self._catch_up_all(self.all, "resync")

    async def _unsubscribe(self, request: Unsubscribe) -> None:
        if request.all:
            if self.all is None:
                await self._error("not subscribed to all jobs")
                return
            owner, self.all = self.all.owner, None
            await self._intake.release(owner, self)
            await self._send(Unsubscribed(all=True))
            return
        sub = self.jobs.pop(request.job_id or "", None)
        if sub is None:
            await self._error(f"not subscribed to job {request.job_id!r}", job_id=request.job_id)
            return
        await self._intake.release(sub.owner, self)
        await self._send(Unsubscribed(job_id=request.job_id))
