"""A schedule's trigger as APScheduler (3.x) reads it, and the fire times that follow from it.

The leading scheduler and the gateway both compute fire times here, so "next run" in the API
is the time the leader will fire.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from conveyor.contracts.schedules import Schedule, ScheduleTrigger

INTERVAL_ANCHOR = dt.datetime(2000, 1, 1)
"""Intervals count from here (in the schedule's timezone), so every instance agrees on them."""
_AFTER = dt.timedelta(milliseconds=1)


def build_trigger(trigger: ScheduleTrigger, timezone: str) -> BaseTrigger:
    """Raises ``ValueError`` for a crontab expression or timezone that cannot be used."""
    tz = zoneinfo.ZoneInfo(timezone)
    if trigger.cron is not None:
        return CronTrigger.from_crontab(trigger.cron, timezone=tz)
    assert trigger.interval_seconds is not None
    return IntervalTrigger(
        seconds=trigger.interval_seconds, start_date=INTERVAL_ANCHOR.replace(tzinfo=tz), timezone=tz
    )


def first_fire_time(
    schedule: Schedule, trigger: BaseTrigger, *, fired_up_to: dt.datetime | None
) -> dt.datetime | None:
    """The first fire time not yet claimed and not before the schedule's last change.

    It may lie in the past (a leader died, or none ran for a while): APScheduler then runs it
    late, or skips it, by the schedule's misfire policy.
    """
    start = schedule.changed_at
    if fired_up_to is not None:
        start = max(start, fired_up_to + _AFTER)
    fire_time: dt.datetime | None = trigger.get_next_fire_time(None, start)
    return fire_time


def next_fire_time(
    schedule: Schedule, *, fired_up_to: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """When the schedule fires next as seen at ``now`` (``None`` when paused or never)."""
    if schedule.paused:
        return None
    trigger = build_trigger(schedule.trigger, schedule.timezone)
    first = first_fire_time(schedule, trigger, fired_up_to=fired_up_to)
    return first if first is None or first >= now else now  # overdue: fires at once
