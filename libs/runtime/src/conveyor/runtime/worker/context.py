"""What a handler gets besides its request: identity, progress reporting and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from conveyor.contracts.jobs import Priority
from conveyor.runtime.telemetry import phase_span
from conveyor.runtime.worker.progress import ProgressThrottle


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
    throttle: ProgressThrottle = field(default_factory=ProgressThrottle)
    """Where reports go; the harness builds it (a bare one only notes progress)."""

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
        self.throttle.report(done, total, message)

    def report_progress_threadsafe(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """``report_progress`` for code running off the event loop (e.g. in a thread)."""
        loop = self.throttle.loop
        assert loop is not None
        loop.call_soon_threadsafe(self.report_progress, done, total, message)

    async def progress(
        self, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        """Async spelling of ``report_progress`` that also yields to the loop."""
        self.report_progress(done, total, message)
        await asyncio.sleep(0)

    async def flush_progress(self) -> None:
        """Publish the pending progress, if any (the harness calls it before the outcome)."""
        await self.throttle.flush()

    async def close(self) -> None:
        """Stop the throttle, publishing the last pending progress first."""
        await self.throttle.close()
