"""What became of one attempt of a job, as decided by the harness."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.contracts.errors import JobError
from conveyor.contracts.jobs import JobResult


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: JobResult | None


@dataclass(frozen=True, slots=True)
class Failed:
    error: JobError
    retryable: bool
    delay: float | None = None
    """Seconds before the retry; ``None`` means exponential backoff."""


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str


@dataclass(frozen=True, slots=True)
class Requeued:
    """The worker is shutting down: the attempt goes back to the queue untouched."""


Outcome = Succeeded | Failed | Cancelled | Requeued


class CancelReason:
    """Why the harness cancelled a handler task (decides the outcome)."""

    CANCELLED = "cancelled"
    TIME_LIMIT = "time_limit"
    SHUTDOWN = "shutdown"
