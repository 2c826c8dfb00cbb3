"""Bodies of the monitoring API (``/api/v1/admin/...``): workers, queues, dead letters, stats."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

import msgspec

from conveyor.contracts._base import Message


class WorkerStatus(enum.StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    """No heartbeat for several intervals: the process is gone or hung."""


class WorkerInfo(Message, kw_only=True):
    """One worker instance as its last heartbeat described it."""

    service: str
    instance: str
    host: str
    pid: int
    concurrency: int
    running_jobs: list[str]
    processed: int
    failed: int
    job_types: list[str] = []
    started_at: dt.datetime
    last_seen: dt.datetime
    seconds_since_seen: float
    status: WorkerStatus


class WorkerList(Message, kw_only=True):
    workers: list[WorkerInfo]


class QueueKind(enum.StrEnum):
    SERVICE = "service"
    """A service's job queue (competing consumers)."""
    DEAD_LETTERS = "dead_letters"
    PARKED = "parked"
    """A paused job type's messages, waiting for it to be resumed."""


class QueueInfo(Message, kw_only=True):
    """A queue's depth and consumers now, and how fast its depth changes."""

    name: str
    kind: QueueKind
    job_types: list[str] = []
    """The routing keys bound to a service queue, or the parked job type."""
    messages: int
    """Ready messages (not counting those delivered and not yet acked)."""
    consumers: int
    depth_rate: float | None = None
    """Change of ``messages`` per second since the previous sample (any reader's); ``None``
    on the first sample."""
    sampled_seconds: float | None = None
    """Seconds between the two samples ``depth_rate`` compares."""
    enqueued_per_second: float | None = None
    """Service queues: jobs of its types created per second over the last minute (so the
    consume rate is about ``enqueued_per_second - depth_rate``)."""


class QueueList(Message, kw_only=True):
    queues: list[QueueInfo]
    paused_job_types: list[str] = []


class DeadLetter(Message, kw_only=True):
    """One message in the dead-letter queue."""

    id: str
    """The job id (``message_id``), or a digest of the body for a message that had none."""
    job_id: str | None = None
    job_type: str | None = None
    owner: str | None = None
    reason: str
    error_code: str | None = None
    routing_key: str | None = None
    source_queue: str | None = None
    dead_lettered_at: str | None = None
    payload_preview: str
    """The start of the message body (UTF-8, replacement characters where it is not)."""
    payload_bytes: int


class DeadLetterPage(Message, kw_only=True):
    dead_letters: list[DeadLetter]
    total: int
    """Messages in the queue (the listing shows at most ``limit`` of them)."""


class ReplayDeadLetters(Message, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/admin/dead-letters/replay``: some ids, or ``all``."""

    ids: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=10_000)
    ] = []
    all: bool = False


class ReplayResult(Message, kw_only=True):
    replayed: list[str]
    """Ids republished to the ``jobs`` exchange (attempt reset to 1)."""
    missing: list[str] = []
    """Requested ids that were not in the dead-letter queue."""
    not_replayable: list[str] = []
    """Dead letters without a routing key to republish with; they stay in the queue."""


class PurgeResult(Message, kw_only=True):
    purged: int


class TypeStats(Message, kw_only=True):
    """Jobs of one type created in the window, by their state now."""

    job_type: str
    total: int
    by_state: dict[str, int]


class StatsBucket(Message, kw_only=True):
    """Jobs created in ``[start, start + bucket_seconds)``, by type and state now."""

    start: dt.datetime
    counts: dict[str, dict[str, int]]


class JobStats(Message, kw_only=True):
    window: str
    window_seconds: int
    since: dt.datetime
    until: dt.datetime
    total: int
    by_type: list[TypeStats]
    bucket_seconds: int
    buckets: list[StatsBucket]
    truncated: bool = False
    """True if the window held more jobs than one call counts; the counts cover the newest."""


class ControlAccepted(Message, kw_only=True):
    """A control command was broadcast (and, for pauses, recorded)."""

    command: str
    job_type: str | None = None
    instance: str | None = None
    paused_job_types: list[str] = []
