"""Events published on the ``events`` exchange: job lifecycle events and domain events.

Job events carry a per-job ``seq`` (1, 2, 3, ... with no gaps) assigned atomically with the
state change in Redis, so a consumer can order, de-duplicate and detect gaps. Names are past
tense: an event says what happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from conveyor.contracts._base import Message
from conveyor.contracts.errors import JobError
from conveyor.contracts.jobs import AnyJobResult, utcnow


class Event(Message, tag_field="event", kw_only=True):
    """Base of everything published on the ``events`` exchange."""

    at: dt.datetime = msgspec.field(default_factory=utcnow)


class JobEvent(Event, kw_only=True):
    """Base of the job lifecycle events."""

    job_id: str
    job_type: str
    owner: str
    seq: Annotated[int, msgspec.Meta(ge=1)] = 1


class JobQueued(JobEvent, tag="job.queued", kw_only=True):
    """The job was accepted and waits for a worker (``attempt`` 1, or again after a replay)."""

    attempt: int = 1


class JobStarted(JobEvent, tag="job.started", kw_only=True):
    """A worker started attempt ``attempt`` of the job."""

    attempt: int = 1
    worker: str = ""


class JobProgressed(JobEvent, tag="job.progressed", kw_only=True):
    """The running job did ``done`` of ``total`` steps (throttled; later ones coalesce)."""

    done: int = 0
    total: int | None = None
    message: str | None = None
    eta_seconds: float | None = None


class JobRetrying(JobEvent, tag="job.retrying", kw_only=True):
    """The attempt failed; attempt ``next_attempt`` runs after ``delay_seconds``."""

    error: JobError
    next_attempt: int
    delay_seconds: float


class JobSucceeded(JobEvent, tag="job.succeeded", kw_only=True):
    """The job finished; ``result`` is small or refers to where the result is kept."""

    result: AnyJobResult | None = None


class JobFailed(JobEvent, tag="job.failed", kw_only=True):
    """The job failed for good (no attempts left, or an error not worth retrying)."""

    error: JobError


class JobCancelled(JobEvent, tag="job.cancelled", kw_only=True):
    """The job was cancelled before it finished."""

    reason: str | None = None


AnyJobEvent = (
    JobQueued | JobStarted | JobProgressed | JobRetrying | JobSucceeded | JobFailed | JobCancelled
)

JOB_EVENT_KINDS: dict[type[JobEvent], str] = {
    JobQueued: "queued",
    JobStarted: "started",
    JobProgressed: "progressed",
    JobRetrying: "retrying",
    JobSucceeded: "succeeded",
    JobFailed: "failed",
    JobCancelled: "cancelled",
}
"""Event class -> the short kind used in routing keys."""


# -- domain events (published or consumed by other services too) ------------------------------


class DatasetUpdated(Event, tag="dataset.updated", kw_only=True):
    """New awards data landed; caches of older versions are dropped and warmed anew.

    Workers never trust ``version``: each one reads the dataset's version from its files (names,
    sizes, mtimes), so an outside publisher may put any label that helps its own logs (e.g. the
    import's date or the source file's checksum). ``conveyor data import`` puts that computed
    version.
    """

    version: str
    """A label of the new data, for logs only (workers compute the version from the files)."""
    rows: int | None = None
    source: str | None = None


class ValidationProblem(Message, kw_only=True):
    kind: str
    count: int
    examples: list[str] = []


class DatasetValidationFailed(Event, tag="dataset.validation_failed", kw_only=True):
    """Dataset validation found problems in ``version``: counts and examples per kind."""

    version: str
    problems: list[ValidationProblem] = []


class HealthCheck(Message, kw_only=True):
    name: str
    ok: bool
    detail: str = ""


class SystemHealthReported(Event, tag="system.health", kw_only=True):
    """The periodic health check's findings: ``ok`` unless one of ``checks`` failed."""

    ok: bool
    checks: list[HealthCheck] = []


AnyDomainEvent = DatasetUpdated | DatasetValidationFailed | SystemHealthReported
AnyEvent = AnyJobEvent | AnyDomainEvent
