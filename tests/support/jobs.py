"""Helpers to submit jobs and wait for their outcomes in tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import msgspec

from conveyor.contracts.codecs import job_event_decoder
from conveyor.contracts.events import AnyJobEvent
from conveyor.contracts.heartbeats import WorkerHeartbeat
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle

MAINTENANCE = "conveyor.maintenance"
"""The worker module that runs diagnostics jobs."""
FAST_WORKER_ENV = {
    "CONVEYOR_RETRY_BASE_DELAY": "0.3",
    "CONVEYOR_PROGRESS_INTERVAL": "0.05",
    "CONVEYOR_HEARTBEAT_INTERVAL": "1",
    "CONVEYOR_SHUTDOWN_GRACE": "10",
    # The default schedules would add a health-check job to any test crossing a quarter hour.
    "CONVEYOR_SCHEDULER_ENABLED": "false",
}
"""Worker settings that keep tests quick and deterministic: short retry delays, frequent
progress and beats, and no scheduler firing the default maintenance schedules."""


async def submit_diagnostics(
    lifecycle: JobLifecycle,
    *,
    owner: str = "tester",
    priority: Priority = Priority.INTERACTIVE,
    max_attempts: int = 3,
    **fields: object,
) -> JobEnvelope:
    envelope = JobEnvelope(
        request=msgspec.convert(fields, DiagnosticsRequest),
        owner=owner,
        priority=priority,
        max_attempts=max_attempts,
    )
    await lifecycle.submit(envelope)
    return envelope


async def wait_for_state(
    store: JobStore,
    job_id: str,
    states: set[JobState] | Callable[[JobRecord], bool],
    timeout: float = 20.0,
) -> JobRecord:
    """Poll the record until it is in one of ``states`` (or the predicate holds)."""
    check = states if callable(states) else (lambda r: r.state in states)
    record: JobRecord | None = None
    async with asyncio.timeout(timeout):
        while True:
            record = await store.get(job_id)
            if record is not None and check(record):
                return record
            await asyncio.sleep(0.03)


async def history(store: JobStore, job_id: str) -> list[AnyJobEvent]:
    return [job_event_decoder.decode(body) for _, body in await store.events_after(job_id, 0)]


async def wait_until_handler_returned(
    store: JobStore, instance: str, job_id: str, *, since: dt.datetime, timeout: float = 10.0
) -> None:
    """Wait for a heartbeat of worker ``instance`` written after ``since`` that no longer lists
    ``job_id`` as running: the worker forgets a job only once its handler has returned."""
    async with asyncio.timeout(timeout):
        while True:
            raw = await store.redis.get(store.keys.worker(instance))
            if raw is not None:
                beat = msgspec.json.decode(raw, type=WorkerHeartbeat)
                if beat.seen_at > since and job_id not in beat.running_jobs:
                    return
            await asyncio.sleep(0.05)
