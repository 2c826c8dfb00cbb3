"""What a handler gets besides its request: identity, progress reporting and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from conveyor.contracts.jobs import Priority
from conveyor.contracts.records import Progress
from conveyor.runtime.telemetry import phase_span

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """Passed to every handler as ``job=``. Handlers never see AMQP or Redis.

    Progress may be reported as often as convenient: ``report_progress`` only notes the latest
    value, and the harness publishes at most one progress event per ``progress_interval``.
    Code running in a thread reports with ``report_progress_threadsafe`` and polls
    ``cancel_requested`` (a ``threading.Event``) between chunks.
    """

    job_id: str
    job_type: str
    owner: str
    attempt: int
    max_attempts: int
    priority: Priority
    delivery: int
    """1 for a job's first delivery; 2+ when a worker died while running it before."""
    trace_id: str | None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    _flush: Callable[[Progress], Awaitable[None]] | None = None
    _interval: float = 0.25
    _loop: asyncio.AbstractEventLoop | None = None
    _pending: Progress | None = None
    _last_emit: float = 0.0
    _flusher: asyncio.Task[None] | None = None
    _flushing: bool = False
    _started: float = field(default_factory=time.monotonic)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Trace a phase of the handler (``with job.phase("query"): ...``) as a child span.

        Work started inside it (``asyncio.to_thread`` copies the context) nests under it too.
        """
        with phase_span(name, **{"conveyor.job_id": self.job_id}):
            yield

    def report_progress(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """Note progress; it is published now or coalesced into the next allowed event."""
        elapsed = time.monotonic() - self._started
        eta = None
        if total and done and 0 < done <= total:
            eta = round(elapsed * (total - done) / done, 3)
        self._pending = Progress(done=done, total=total, message=message, eta_seconds=eta)
        if self._flusher is None or self._flusher.done():
            delay = max(0.0, self._last_emit + self._interval - time.monotonic())
            loop = self._loop or asyncio.get_running_loop()
            self._flusher = loop.create_task(self._flush_after(delay))

    def report_progress_threadsafe(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """``report_progress`` for code running off the event loop (e.g. in a thread)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.report_progress, done, total, message)

    async def progress(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """Async spelling of ``report_progress`` that also yields to the loop."""
        self.report_progress(done, total, message)
        await asyncio.sleep(0)

    async def _flush_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self.flush_progress()
        except Exception as exc:
            # Progress is advisory and this task has no one awaiting it: a Redis or broker
            # outage must neither fail the job nor leave an exception nobody retrieves. The
            # next report, or the outcome, carries on.
            log.warning("progress not recorded: %s", exc, extra={"job_id": self.job_id})

    async def flush_progress(self) -> None:
        """Publish the pending progress, if any (the harness calls it before the outcome)."""
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
        """Stop the throttle, publishing the last pending progress first."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if not self._flushing:  # still sleeping: skip the wait, flush below
                flusher.cancel()
            await asyncio.wait([flusher])  # unlike awaiting it, never raises our own cancel
        await self.flush_progress()
