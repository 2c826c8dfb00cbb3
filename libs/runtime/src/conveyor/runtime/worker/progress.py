"""Progress throttling: a handler reports as often as it likes, at most one event per interval.

The harness owns one ``ProgressThrottle`` per attempt and hands it to the job's
``JobContext``; the context only forwards reports to it. ``record_progress`` is what the
throttle flushes to: the ``JobProgressed`` transition, announced like every other event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from conveyor.contracts.events import JobProgressed
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.records import JobState, Progress
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.worker.job_events import job_event
from conveyor.runtime.worker.outcomes import CancelReason

log = logging.getLogger(__name__)

Flush = Callable[[Progress], Awaitable[None]]


class ProgressThrottle:
    """Keeps the latest reported progress and flushes it at most once per ``interval``."""

    def __init__(
        self,
        flush: Flush | None = None,
        *,
        interval: float = 0.25,
        loop: asyncio.AbstractEventLoop | None = None,
        job_id: str | None = None,
    ) -> None:
        self._flush = flush
        self._interval = interval
        self.loop = loop
        """The job's event loop: reports from threads are handed to it."""
        self._job_id = job_id
        self._pending: Progress | None = None
        self._last_emit = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self._started = time.monotonic()

    @property
    def flusher(self) -> asyncio.Task[None] | None:
        """The task that publishes the pending progress once the interval allows."""
        return self._flusher

    def report(self, done: int, total: int | None, message: str | None) -> None:
        """Note progress; it is flushed now or coalesced into the next allowed flush."""
        elapsed = time.monotonic() - self._started
        eta = None
        if total and done and 0 < done <= total:
            eta = round(elapsed * (total - done) / done, 3)
        self._pending = Progress(done=done, total=total, message=message, eta_seconds=eta)
        if self._flusher is None or self._flusher.done():
            delay = max(0.0, self._last_emit + self._interval - time.monotonic())
            loop = self.loop or asyncio.get_running_loop()
            self._flusher = loop.create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self.flush()
        except Exception as exc:
            # Progress is advisory and this task has no one awaiting it: a Redis or broker
            # outage must neither fail the job nor leave an exception nobody retrieves. The
            # next report, or the outcome, carries on.
            log.warning("progress not recorded: %s", exc, extra={"job_id": self._job_id})

    async def flush(self) -> None:
        """Publish the pending progress, if any."""
        pending, self._pending = self._pending, None
        if pending is None or self._flush is None:
            return
        self._last_emit = time.monotonic()
        self._flushing = True
        try:
            await self._flush(pending)
        finally:
            self._flushing = False

    async def close(self) -> None:
        """Stop throttling, publishing the last pending progress first."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if not self._flushing:  # still sleeping: skip the wait, flush below
                flusher.cancel()
            await asyncio.wait([flusher])  # unlike awaiting it, never raises our own cancel
        await self.flush()


async def record_progress(
    store: JobStore,
    lifecycle: JobLifecycle,
    envelope: JobEnvelope,
    progress: Progress,
    *,
    request_cancel: Callable[[str, str], object],
) -> None:
    """Record and announce one progress event of a running job.

    A job found cancelled meanwhile is cancelled here too: the cancel command may have been
    lost, and the record is the source of truth.
    """
    event = job_event(
        JobProgressed,
        envelope,
        done=progress.done,
        total=progress.total,
        message=progress.message,
        eta_seconds=progress.eta_seconds,
    )
    outcome = await store.transition(
        envelope.job_id,
        envelope.owner,
        allowed=(JobState.RUNNING,),
        to=JobState.RUNNING,
        event=event,
        fields={"progress": progress, "updated_at": event.at},
    )
    if outcome.ok and outcome.event is not None:
        lifecycle.announce(event, outcome.event)
    elif outcome.previous_state == JobState.CANCELLED:
        request_cancel(envelope.job_id, CancelReason.CANCELLED)
