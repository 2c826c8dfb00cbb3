"""The job record: a job's current state as stored in Redis and served by the API."""

from __future__ import annotations

import datetime as dt
import enum

from conveyor.contracts._base import Message
from conveyor.contracts.errors import JobError
from conveyor.contracts.events import AnyJobEvent
from conveyor.contracts.jobs import AnyJobRequest, AnyJobResult, JobEnvelope, Priority


class JobState(enum.StrEnum):
    """queued -> running -> succeeded | failed | cancelled, with retrying between attempts."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
FINAL_STATES: frozenset[JobState] = _FINAL


class Progress(Message, kw_only=True):
    done: int = 0
    total: int | None = None
    message: str | None = None
    eta_seconds: float | None = None


class JobRecord(Message, kw_only=True):
    """A job as the API shows it."""

    job_id: str
    job_type: str
    owner: str
    state: JobState
    priority: Priority
    attempt: int
    max_attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    request: AnyJobRequest
    last_seq: int
    """The ``seq`` of the job's newest event; events are numbered 1, 2, 3, ..."""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    progress: Progress | None = None
    result: AnyJobResult | None = None
    error: JobError | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    worker: str | None = None
    """The worker instance that ran (or runs) the latest attempt."""
    expires_at: dt.datetime | None = None
    """When the job's result (e.g. an export file) expires."""


class JobPage(Message, kw_only=True):
    """One page of a job listing; pass ``next_cursor`` back to get the next page."""

    jobs: list[JobRecord]
    next_cursor: str | None = None


class JobEventPage(Message, kw_only=True):
    """A job's recorded events after ``after_seq``, oldest first (``GET /jobs/{id}/events``).

    For clients without a WebSocket: pass ``next_after_seq`` back as ``after_seq`` to read on.
    History is capped per job (``CONVEYOR_EVENT_HISTORY_MAX``), so the first event may come
    after a gap when older ones were trimmed; ``seq`` says so.
    """

    job_id: str
    events: list[AnyJobEvent]
    next_after_seq: int
    """The ``seq`` of the page's last event (``after_seq`` when the page is empty)."""
    more: bool
    """Whether more events were recorded after this page when it was read."""
    last_seq: int
    """The ``seq`` of the job's newest event when the page was read."""


class UnconfirmedJob(Message, kw_only=True):
    """A submitted job whose publish RabbitMQ never confirmed, kept to be published again
    unchanged (same id and ``created_at``: workers run the copies once)."""

    envelope: JobEnvelope
    amqp_priority: int
    """The priority it was published at (fair share may demote it below its envelope's)."""
    headers: dict[str, str]
    """The publish's AMQP headers (its trace context)."""
