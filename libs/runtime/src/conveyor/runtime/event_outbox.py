"""The lifecycle's outbox: recorded events published in the background, a job's close ones folded.

``put`` never waits: it queues the event and one task per process publishes what is ready, in
order, a bounded number of events per socket write. With a fold window, a job's first event is
held (at most the window) and the job's events announced meanwhile join it; the group goes out
as one folded message (``conveyor.contracts.folded_events``) when the window ends, when a final
event (succeeded, failed, cancelled) joins it, or when it is full. A job that finishes within
the window thus costs one event message, not three, and its final event is never held.

Order: a job's events stay in ``seq`` order (a job's group becomes ready before any later event
of that job can), and groups are published in the order they became ready. Events of different
jobs may go out in another order than they were announced: readers of an owner's stream detect
that from the cursors and fill in from Redis, as they do for any event still in flight.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import (
    JOB_EVENT_KINDS,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobSucceeded,
)
from conveyor.contracts.folded_events import FoldedJobEventRaw, FoldedJobEventsRaw
from conveyor.contracts.topology import (
    HEADER_CURSOR,
    HEADER_FOLDED,
    HEADER_PREV_CURSOR,
    job_event_routing_key,
)
from conveyor.runtime.jobstore import Appended

log = logging.getLogger(__name__)

Entry = tuple[JobEvent, Appended, dict[str, Any]]
"""An announced event: the event, its record (seq, cursors, body) and its message headers."""
Outgoing = tuple[str, bytes, dict[str, Any]]
"""A message to publish: routing key, body, headers."""

FINAL_EVENTS: tuple[type[JobEvent], ...] = (JobSucceeded, JobFailed, JobCancelled)
"""Events after which nothing more of the job's attempt comes: they end a hold at once."""
MAX_EVENTS_PER_WRITE = 256
"""Events (folded or not) published by one write; a group is never split across writes."""
MAX_FOLDED = 32
"""Events one folded message carries at most (a chatty job's progress does not pile up)."""
_TIMER_SLACK = 0.001
"""The event loop may run a timer up to its clock resolution early: such a group is due."""


def routing_key(event: JobEvent) -> str:
    return job_event_routing_key(event.owner, JOB_EVENT_KINDS[type(event)], event.job_type)


def message_of(group: list[Entry]) -> Outgoing:
    """One message for a group: the event itself, or the events folded (routed by the last).

    The headers are the last event's (its trace context, as its publish span left it), with the
    first event's previous cursor: the message covers the owner stream from there.
    """
    event, appended, headers = group[-1]
    if len(group) == 1:
        return routing_key(event), appended.body, headers
    folded = FoldedJobEventsRaw(
        job_id=event.job_id,
        job_type=event.job_type,
        owner=event.owner,
        events=[
            FoldedJobEventRaw(
                cursor=item.cursor, prev_cursor=item.prev_cursor, event=msgspec.Raw(item.body)
            )
            for _, item, _ in group
        ],
    )
    folded_headers = {
        **headers,
        HEADER_CURSOR: appended.cursor,
        HEADER_PREV_CURSOR: group[0][1].prev_cursor,
        HEADER_FOLDED: str(len(group)),
    }
    return routing_key(event), encode(folded), folded_headers


class _Held:
    __slots__ = ("deadline", "entries")

    def __init__(self, entry: Entry, deadline: float) -> None:
        self.entries = [entry]
        self.deadline = deadline


class EventOutbox:
    """Announced events, published in the background by ``publish`` (in order, folded)."""

    def __init__(
        self,
        publish: Callable[[list[list[Entry]]], Awaitable[None]],
        *,
        fold_window: float = 0.0,
        max_per_write: int = MAX_EVENTS_PER_WRITE,
        max_folded: int = MAX_FOLDED,
    ) -> None:
        if fold_window < 0:
            raise ValueError(f"fold_window must be >= 0, not {fold_window}")
        if not 2 <= max_folded <= max_per_write:
            raise ValueError("max_folded must be between 2 and max_per_write")
        self._publish = publish
        self.fold_window = fold_window
        self._max_per_write = max_per_write
        self._max_folded = max_folded
        self._ready: collections.deque[list[Entry]] = collections.deque()
        """Groups to publish, each one message, in the order they became ready."""
        self._held: dict[str, _Held] = {}
        """Groups waiting for more of their job's events, by job id. Every group is held the
        same window from its first event, so insertion order is deadline order."""
        self._timer: asyncio.TimerHandle | None = None
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Events not published yet (ready or held)."""
        return sum(map(len, self._ready)) + sum(len(h.entries) for h in self._held.values())

    def put(self, entry: Entry) -> None:
        """Queue an event for publishing; returns at once."""
        event = entry[0]
        held = self._held.get(event.job_id) if self._held else None
        if held is not None:
            held.entries.append(entry)
            if isinstance(event, FINAL_EVENTS) or len(held.entries) >= self._max_folded:
                del self._held[event.job_id]
                self._make_ready(held.entries)
            return
        if self.fold_window == 0 or isinstance(event, FINAL_EVENTS):
            self._make_ready([entry])
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fold_window
        self._held[event.job_id] = _Held(entry, deadline)
        self._idle.clear()
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)

    def flush(self) -> None:
        """Publish every held group now (shutdown: nothing waits for its window)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, {}
        for group in held.values():
            self._make_ready(group.entries)

    async def drain(self, grace: float) -> None:
        """Flush, wait (bounded) until everything is published, then stop the task."""
        self.flush()
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d event(s) not announced at shutdown", len(self))
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    def _make_ready(self, group: list[Entry]) -> None:
        self._ready.append(group)
        self._idle.clear()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-outbox")

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        due = loop.time() + _TIMER_SLACK
        while self._held:
            job_id, held = next(iter(self._held.items()))
            if held.deadline > due:
                self._timer = loop.call_at(held.deadline, self._expire)
                return
            del self._held[job_id]
            self._make_ready(held.entries)

    def _take(self) -> list[list[Entry]]:
        """The ready groups of one write: at least one, at most ``max_per_write`` events."""
        groups = [self._ready.popleft()]
        count = len(groups[0])
        while self._ready and count + len(self._ready[0]) <= self._max_per_write:
            count += len(self._ready[0])
            groups.append(self._ready.popleft())
        return groups

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._ready:
                await self._publish(self._take())
            if not self._held:
                self._idle.set()
