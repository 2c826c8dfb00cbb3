"""The firing executor against the installed APScheduler 3: every run gets its fire time, and
the scheduler hears of each outcome (executed, error, missed) and of each instance's end."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from conveyor.maintenance.apscheduler_bridge import JOBSTORE, FiringExecutor

OUTCOMES = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES


class Heard:
    """The scheduler's job events, awaitable one by one."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[JobEvent] = asyncio.Queue()

    def __call__(self, event: JobEvent) -> None:
        self.events.put_nowait(event)

    async def next(self) -> JobEvent:
        async with asyncio.timeout(10):
            return await self.events.get()


@pytest.fixture
async def scheduler() -> AsyncIterator[tuple[AsyncIOScheduler, Heard]]:
    heard = Heard()
    scheduler = AsyncIOScheduler(executors={"default": FiringExecutor()}, timezone=dt.UTC)
    scheduler.add_listener(heard, OUTCOMES)
    scheduler.start()
    yield scheduler, heard
    scheduler.shutdown(wait=False)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _add(scheduler: AsyncIOScheduler, func: Callable[..., Any], **options: Any) -> None:
    scheduler.add_job(func, args=["a"], id="job", jobstore=JOBSTORE, **options)


async def test_a_run_gets_its_fire_time_and_its_result_is_reported(
    scheduler: tuple[AsyncIOScheduler, Heard],
) -> None:
    aps, heard = scheduler
    calls: list[tuple[str, dt.datetime]] = []
    at = _now() + dt.timedelta(seconds=1)

    async def fire(arg: str, *, fire_time: dt.datetime | None = None) -> str:
        assert fire_time is not None
        calls.append((arg, fire_time))
        return "done"

    _add(aps, fire, trigger=DateTrigger(at))
    event = await heard.next()
    assert event.code == EVENT_JOB_EXECUTED
    assert (event.job_id, event.jobstore, event.scheduled_run_time) == ("job", JOBSTORE, at)
    assert event.retval == "done"  # type: ignore[attr-defined]
    assert calls == [("a", at)]


async def test_a_failing_run_is_reported_as_an_error(
    scheduler: tuple[AsyncIOScheduler, Heard],
) -> None:
    aps, heard = scheduler

    async def fire(arg: str, *, fire_time: dt.datetime | None = None) -> None:
        raise RuntimeError(f"refused {arg}")

    _add(aps, fire, trigger=DateTrigger(_now()))
    event = await heard.next()
    assert event.code == EVENT_JOB_ERROR
    assert str(event.exception) == "refused a"  # type: ignore[attr-defined]


async def test_run_times_past_their_grace_are_missed_not_run(
    scheduler: tuple[AsyncIOScheduler, Heard],
) -> None:
    aps, heard = scheduler
    calls: list[dt.datetime] = []
    start = _now() - dt.timedelta(seconds=25)

    async def fire(arg: str, *, fire_time: dt.datetime | None = None) -> None:
        assert fire_time is not None
        calls.append(fire_time)

    # Every 10 s from 25 s ago, grace 20 s, not coalesced: the three due run times (25, 15
    # and 5 s ago) reach the executor together; the oldest is missed, the later two run with
    # their own fire times.
    _add(
        aps,
        fire,
        trigger=IntervalTrigger(seconds=10, start_date=start),
        next_run_time=start,
        coalesce=False,
        misfire_grace_time=20,
    )
    events = [await heard.next() for _ in range(3)]
    assert [e.code for e in events] == [EVENT_JOB_MISSED, EVENT_JOB_EXECUTED, EVENT_JOB_EXECUTED]
    assert [e.scheduled_run_time for e in events] == [
        start + dt.timedelta(seconds=s) for s in (0, 10, 20)
    ]
    assert calls == [start + dt.timedelta(seconds=10), start + dt.timedelta(seconds=20)]


async def test_a_run_still_going_holds_its_instance_until_it_ends(
    scheduler: tuple[AsyncIOScheduler, Heard],
) -> None:
    aps, heard = scheduler
    release = asyncio.Event()
    started: asyncio.Queue[dt.datetime] = asyncio.Queue()

    async def fire(arg: str, *, fire_time: dt.datetime | None = None) -> None:
        assert fire_time is not None
        started.put_nowait(fire_time)
        await release.wait()

    _add(aps, fire, trigger=IntervalTrigger(seconds=1), max_instances=1, next_run_time=_now())
    first = await started.get()
    # The next fire time finds the first run going: refused, as max_instances says.
    assert (await heard.next()).code == EVENT_JOB_MAX_INSTANCES
    release.set()
    assert (await heard.next()).code == EVENT_JOB_EXECUTED
    # The instance was given back: a later fire time runs again.
    async with asyncio.timeout(10):
        assert await started.get() > first
