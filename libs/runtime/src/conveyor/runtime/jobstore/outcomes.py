"""What the job store's writes and reads return: start statuses, recorded events, transitions."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StartStatus(enum.Enum):
    STARTED = 1
    FINISHED = 0
    """The job is already succeeded, failed or cancelled: skip it."""
    STALE = 2
    """The message is an older attempt than the record's (a duplicate): skip it."""
    CRASHED_TOO_OFTEN = 3
    """Workers died during this job too often: dead-letter it."""
    RUNNING_ELSEWHERE = 4
    """Another worker, alive by its heartbeat, runs this attempt: hold the message."""
    DUPLICATE = 5
    """Another job of the owner has this envelope's idempotency key: skip it."""
    ID_IN_USE = 6
    """The job id names another envelope's job (its record has another creation time)."""


@dataclass(frozen=True, slots=True)
class Appended:
    """An event as recorded: its seq, its owner-stream cursor and its JSON (seq filled in).

    ``prev_cursor`` is the owner-stream entry just before this one ("0-0" if none): a reader
    that delivered up to ``prev_cursor`` can deliver this event without looking for a gap.
    """

    seq: int
    cursor: str
    prev_cursor: str
    body: bytes
    replicated: bool = True
    """False when the store waits for replicas (``CONVEYOR_REDIS_WAIT_REPLICAS``) and they did
    not acknowledge the write in time: it may live only on a master the Sentinels already
    replaced, in a history that is about to be dropped, so it is not announced."""


@dataclass(frozen=True, slots=True)
class Started:
    status: StartStatus
    previous_state: str
    crashes: int
    dead_lettered: bool = False
    """For a finished job: whether its dead letter was published (see ``mark_dead_lettered``)."""
    duplicate_of: str = ""
    """For ``DUPLICATE``: the job that has the idempotency key."""
    existing_key: str = ""
    """For ``ID_IN_USE``: the idempotency key of the job that has the id ("" if none)."""
    created: Appended | None = None
    """The ``job.queued`` event, when this start also created the record."""
    started: Appended | None = None


@dataclass(frozen=True, slots=True)
class Transitioned:
    """Outcome of a transition: ``ok`` if it applied; ``previous_state`` either way."""

    ok: bool
    previous_state: str | None
    event: Appended | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    cursor: str
    job_id: str
    body: bytes
