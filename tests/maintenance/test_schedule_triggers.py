"""Fire times: anchored intervals, crontabs in a timezone, and where a new leader starts."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor.contracts.jobs import CheckSystemHealthRequest
from conveyor.contracts.schedules import Schedule, ScheduleTrigger
from conveyor.runtime.schedule_triggers import build_trigger, first_fire_time, next_fire_time

UTC = dt.UTC


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _schedule(trigger: ScheduleTrigger, **fields: object) -> Schedule:
    values: dict[str, object] = {"changed_at": _at("2026-01-01T00:00:00"), **fields}
    return Schedule(name="s", request=CheckSystemHealthRequest(), trigger=trigger, **values)  # type: ignore[arg-type]


def test_intervals_are_anchored_so_every_instance_computes_the_same_times() -> None:
    schedule = _schedule(ScheduleTrigger(interval_seconds=900))
    trigger = build_trigger(schedule.trigger, "UTC")
    assert first_fire_time(schedule, trigger, fired_up_to=_at("2026-03-04T10:07:13")) == _at(
        "2026-03-04T10:15:00"
    )
    # Exactly on a fire time that was already claimed: the next one.
    assert first_fire_time(schedule, trigger, fired_up_to=_at("2026-03-04T10:15:00")) == _at(
        "2026-03-04T10:30:00"
    )


def test_a_crontab_is_read_in_the_schedules_timezone() -> None:
    schedule = _schedule(ScheduleTrigger(cron="0 2 * * *"), timezone="Asia/Manila")
    trigger = build_trigger(schedule.trigger, schedule.timezone)
    first = first_fire_time(schedule, trigger, fired_up_to=_at("2026-03-04T00:00:00"))
    assert first is not None
    assert first.astimezone(UTC) == _at("2026-03-04T18:00:00")


def test_nothing_due_before_the_last_change_is_ever_caught_up() -> None:
    schedule = _schedule(ScheduleTrigger(cron="0 * * * *"), changed_at=_at("2026-03-04T10:20:00"))
    trigger = build_trigger(schedule.trigger, "UTC")
    assert first_fire_time(schedule, trigger, fired_up_to=_at("2026-03-04T07:00:00")) == _at(
        "2026-03-04T11:00:00"
    )
    assert first_fire_time(schedule, trigger, fired_up_to=None) == _at("2026-03-04T11:00:00")


def test_the_next_run_is_none_while_paused_and_now_while_overdue() -> None:
    now = _at("2026-03-04T10:20:00")
    hourly = _schedule(ScheduleTrigger(cron="0 * * * *"))
    assert next_fire_time(hourly, fired_up_to=_at("2026-03-04T10:00:00"), now=now) == _at(
        "2026-03-04T11:00:00"
    )
    assert next_fire_time(hourly, fired_up_to=_at("2026-03-04T08:00:00"), now=now) == now
    paused = _schedule(ScheduleTrigger(cron="0 * * * *"), paused=True)
    assert next_fire_time(paused, fired_up_to=None, now=now) is None


@pytest.mark.parametrize("cron", ["every day", "0 25 * * *", "* * * *", "61 * * * *"])
def test_nonsense_crontabs_are_refused(cron: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - APScheduler says which field in the message
        build_trigger(ScheduleTrigger(cron=cron), "UTC")


def test_a_trigger_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ScheduleTrigger()
    with pytest.raises(ValueError, match="exactly one"):
        ScheduleTrigger(cron="* * * * *", interval_seconds=5)
