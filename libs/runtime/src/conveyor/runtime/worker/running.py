"""The jobs running in this worker: their handler tasks, cancel reasons and redeliveries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conveyor.contracts.jobs import JobEnvelope
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.context import JobContext

log = logging.getLogger(__name__)


@dataclass
class RunningJob:
    """One attempt whose handler runs here."""

    envelope: JobEnvelope
    context: JobContext
    task: asyncio.Task[Any]
    cancel_reason: str | None = None
    """A ``CancelReason`` once the harness cancelled the handler (it decides the outcome)."""
    started: float = field(default_factory=time.monotonic)
    redeliveries: list[Delivery] = field(default_factory=list)
    """The job's message again, redelivered after a channel loss while this run goes on: it
    is settled with the run, never run a second time beside it."""


class RunningJobs:
    """The running attempts by job id."""

    def __init__(self) -> None:
        self._jobs: dict[str, RunningJob] = {}

    def __getitem__(self, job_id: str) -> RunningJob:
        return self._jobs[job_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: str) -> RunningJob | None:
        return self._jobs.get(job_id)

    def add(self, running: RunningJob) -> None:
        self._jobs[running.envelope.job_id] = running

    def remove(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def cancel(self, job_id: str, reason: str) -> bool:
        """Cancel the handler of ``job_id`` if it runs here; returns whether it did."""
        running = self._jobs.get(job_id)
        if running is None or running.cancel_reason is not None:
            return False
        running.cancel_reason = reason
        running.context.cancel_requested.set()
        running.task.cancel()
        log.info("cancelling job (%s)", reason, extra={"job_id": job_id})
        return True
