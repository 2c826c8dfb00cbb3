"""The schedules seeded into Redis on a namespace's first start (Redis is the source of truth)."""

from __future__ import annotations

from conveyor.contracts.jobs import (
    CheckSystemHealthRequest,
    CleanupExportsRequest,
    ComputeDailyStatisticsRequest,
    PurgeExpiredJobsRequest,
    ValidateDatasetRequest,
)
from conveyor.contracts.schedules import Schedule, ScheduleTrigger


def default_schedules(timezone: str) -> list[Schedule]:
    """The first users' maintenance schedules, read in ``timezone``."""

    def cron(expression: str) -> ScheduleTrigger:
        return ScheduleTrigger(cron=expression)

    return [
        Schedule(
            name="cleanup-exports",
            request=CleanupExportsRequest(),
            trigger=cron("0 2 * * *"),
            timezone=timezone,
        ),
        Schedule(
            name="validate-dataset",
            request=ValidateDatasetRequest(),
            trigger=cron("0 * * * *"),
            timezone=timezone,
            misfire_grace_seconds=900,
        ),
        Schedule(
            name="daily-statistics",
            request=ComputeDailyStatisticsRequest(),
            trigger=cron("0 1 * * *"),
            timezone=timezone,
        ),
        Schedule(
            name="system-health",
            request=CheckSystemHealthRequest(),
            trigger=ScheduleTrigger(interval_seconds=900),
            timezone=timezone,
            # A health report late by more than a few minutes says little: skip it.
            misfire_grace_seconds=300,
        ),
        Schedule(
            name="purge-expired-jobs",
            request=PurgeExpiredJobsRequest(),
            trigger=cron("30 3 * * *"),
            timezone=timezone,
        ),
    ]
