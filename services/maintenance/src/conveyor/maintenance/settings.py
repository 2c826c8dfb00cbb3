"""The maintenance service's settings: the worker's own plus the scheduler and job knobs."""

from __future__ import annotations

import zoneinfo
from typing import Annotated

import msgspec

from conveyor.runtime.settings import WorkerSettings


class MaintenanceSettings(WorkerSettings, kw_only=True, frozen=True):
    """``WorkerSettings`` plus the scheduler's (``CONVEYOR_SCHEDULE_TIMEZONE``, ...)."""

    scheduler_enabled: bool = True
    """Run the scheduler here (leader election, firings); `false`: maintenance jobs only."""
    schedule_timezone: str = "UTC"
    """IANA timezone of the schedules seeded on first start (e.g. `Asia/Manila`)."""
    scheduler_lock_ttl: Annotated[float, msgspec.Meta(ge=0.5, le=300)] = 5.0
    """Seconds the leader lock lasts unless renewed (a dead leader is replaced after it)."""
    scheduler_sync_interval: Annotated[float, msgspec.Meta(ge=0.1, le=300)] = 5.0
    """Seconds between two reloads of the schedules by the leader (besides control messages)."""
    export_tmp_grace_hours: Annotated[float, msgspec.Meta(ge=0)] = 6.0
    """Cleanup: hours before an unfinished (`.tmp`) or unrecorded export file counts as orphaned."""
    health_max_backlog: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    """Health check: ready messages in a job queue above which it reports a backlog."""
    health_min_free_disk_mb: Annotated[int, msgspec.Meta(ge=0)] = 1024
    """Health check: free MB in the data directory below which it reports low disk."""
    statistics_ttl_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Days the daily statistics of one day stay cached."""

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.schedule_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise msgspec.ValidationError(
                f"`{self.schedule_timezone}` is not an IANA timezone - at `$.schedule_timezone`"
            ) from None

    @property
    def scheduler_renew_interval(self) -> float:
        """Renew at a third of the TTL: two renewals may fail before the lock lapses."""
        return self.scheduler_lock_ttl / 3
