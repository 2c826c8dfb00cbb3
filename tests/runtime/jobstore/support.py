"""Building envelopes and events for the job store's script tests, and reading back history."""

from __future__ import annotations

import uuid
from typing import Any

from conveyor.contracts.codecs import job_event_decoder
from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.events import (
    AnyJobEvent,
    JobCancelled,
    JobFailed,
    JobQueued,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore, Started, Transitioned


def new_owner() -> str:
    """An owner of its own, so its event stream holds only this test's events."""
    return f"owner-{uuid.uuid4().hex[:12]}"


def envelope(owner: str, **fields: Any) -> JobEnvelope:
    return JobEnvelope(request=DiagnosticsRequest(numbers=[1, 2]), owner=owner, **fields)


def queued(env: JobEnvelope) -> JobQueued:
    return JobQueued(job_id=env.job_id, job_type=env.job_type, owner=env.owner, attempt=1)


def started(env: JobEnvelope, worker: str) -> JobStarted:
    return JobStarted(
        job_id=env.job_id,
        job_type=env.job_type,
        owner=env.owner,
        attempt=env.attempt,
        worker=worker,
    )


async def start(
    store: JobStore, env: JobEnvelope, *, worker: str = "worker-a", max_crashes: int = 3
) -> Started:
    return await store.start(
        env,
        queued(env),
        started(env, worker),
        worker=worker,
        max_crashes=max_crashes,
        trace_id=None,
    )


async def finish(store: JobStore, env: JobEnvelope) -> Transitioned:
    """What the worker records when a handler returns."""
    event = JobSucceeded(job_id=env.job_id, job_type=env.job_type, owner=env.owner)
    return await store.transition(
        env.job_id, env.owner, allowed=(JobState.RUNNING,), to=JobState.SUCCEEDED, event=event
    )


async def fail(store: JobStore, env: JobEnvelope) -> Transitioned:
    error = JobError(code=ErrorCode.INTERNAL, message="boom")
    event = JobFailed(job_id=env.job_id, job_type=env.job_type, owner=env.owner, error=error)
    return await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.RUNNING,),
        to=JobState.FAILED,
        event=event,
        fields={"error": error},
    )


def cancelled(env: JobEnvelope) -> JobCancelled:
    return JobCancelled(job_id=env.job_id, job_type=env.job_type, owner=env.owner, reason="test")


async def history(store: JobStore, job_id: str) -> list[tuple[int, AnyJobEvent]]:
    return [(seq, job_event_decoder.decode(b)) for seq, b in await store.events_after(job_id, 0)]
