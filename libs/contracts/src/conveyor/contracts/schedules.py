"""Schedules: definitions kept in Redis (the source of truth), their run state, and the admin API.

A schedule fires an ordinary job (``request``) whenever its trigger says. The leading
maintenance instance reads the definitions; the gateway edits them and broadcasts
``ReloadSchedules`` so the change takes effect within seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from conveyor.contracts._base import Message
from conveyor.contracts.jobs import AnyJobRequest, job_type_of, utcnow

ScheduleName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]

MAX_INTERVAL_SECONDS = 366 * 86_400


class ScheduleTrigger(Message, kw_only=True):
    """When a schedule fires: a crontab expression (5 fields) or a fixed interval, not both.

    Intervals are anchored at 2000-01-01 00:00 in the schedule's timezone, so every instance
    computes the same fire times (``interval_seconds: 900`` fires at :00, :15, :30 and :45).
    """

    cron: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    interval_seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTERVAL_SECONDS)] | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of `cron` and `interval_seconds`")

    @property
    def kind(self) -> Literal["cron", "interval"]:
        return "cron" if self.cron is not None else "interval"


class Schedule(Message, kw_only=True):
    """A schedule's definition as stored in Redis (``Keys.schedules``, field = name)."""

    name: ScheduleName
    request: AnyJobRequest
    """The job each firing submits; its ``type`` is the job type."""
    trigger: ScheduleTrigger
    timezone: str = "UTC"
    """IANA name the trigger is read in (``Asia/Manila``)."""
    paused: bool = False
    coalesce: bool = True
    """Several missed firings run once (for the latest missed time) instead of one each."""
    misfire_grace_seconds: Annotated[int, msgspec.Meta(ge=1)] = 3600
    """A firing later than this (no leader, leader busy) is skipped, not run late."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    changed_at: dt.datetime = msgspec.field(default_factory=utcnow)
    """Last pause, resume or reschedule: firings due before it are never caught up."""

    @property
    def job_type(self) -> str:
        return job_type_of(self.request)


class ScheduleRun(Message, kw_only=True):
    """The latest job a schedule started (by its trigger or by "run now")."""

    job_id: str
    at: dt.datetime
    scheduled_for: dt.datetime | None = None
    """The fire time the job stands for; ``None`` for "run now"."""
    manual: bool = False
    error: str | None = None
    """Why the job could not be queued (RabbitMQ refused every attempt); the firing is then
    lost rather than risk running twice, and the admin API shows it as ``not_queued``."""


class ScheduleView(Message, kw_only=True):
    """A schedule as the admin API lists it."""

    name: str
    job_type: str
    trigger: Literal["cron", "interval"]
    cron: str | None
    interval_seconds: int | None
    timezone: str
    paused: bool
    coalesce: bool
    misfire_grace_seconds: int
    next_run: dt.datetime | None
    """The next fire time (``None`` while paused)."""
    last_run: dt.datetime | None = None
    last_job_id: str | None = None
    last_outcome: str | None = None
    """The state of the last job: queued, running, retrying, succeeded, failed, cancelled,
    ``expired`` once its record is gone, or ``not_queued`` when its firing could not publish."""


class ScheduleList(Message, kw_only=True):
    schedules: list[ScheduleView]


class ScheduleRunAccepted(Message, kw_only=True):
    """Answer to "run now": the job that was queued."""

    schedule: str
    job_id: str


class TriggerChange(Message, kw_only=True):
    """Body of ``PUT /api/v1/admin/schedules/{name}/trigger``: a new trigger, exactly one of
    ``cron`` (5-field crontab) and ``interval_seconds``, optionally a new timezone."""

    cron: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    interval_seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTERVAL_SECONDS)] | None = None
    timezone: Annotated[str, msgspec.Meta(max_length=100)] | None = None
