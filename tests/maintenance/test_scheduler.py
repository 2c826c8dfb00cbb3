"""The scheduler in-process on the real Redis and RabbitMQ: leadership, and the misfire policy
(coalescing, grace time) when firings were missed while no leader ran."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.schedules import Schedule, ScheduleTrigger
from conveyor.maintenance.firing import PUBLISH_ATTEMPTS, Fired, ScheduleFirer, firing_job_id
from conveyor.maintenance.leadership import LeaderLock
from conveyor.maintenance.scheduler import Scheduler
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.broker import BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.resources import open_resources
from conveyor.runtime.schedule_store import ScheduleStore
from conveyor.runtime.settings import SettingsError, load_settings
from tests.maintenance.support import every_second
from tests.support.namespace import AMQP_URL, REDIS_URL

Firing = tuple[str, dt.datetime, Fired]


@contextlib.asynccontextmanager
async def running_scheduler(
    namespace: str, data_dir: Path
) -> AsyncIterator[tuple[Scheduler, list[Firing]]]:
    settings = load_settings(
        MaintenanceSettings,
        {},
        namespace=namespace,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        data_dir=data_dir,
        instance=f"sched-{uuid.uuid4().hex[:6]}",
        scheduler_lock_ttl=1.5,
        scheduler_sync_interval=0.5,
    )
    fired: list[Firing] = []
    async with contextlib.AsyncExitStack() as stack:
        resources = await open_resources(settings, stack, service="maintenance")
        scheduler = Scheduler(resources, settings)
        scheduler.on_fired = lambda s, t, outcome: fired.append((s.name, t, outcome))
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
        yield scheduler, fired


async def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _missed_since(redis: Redis, keys: Keys, schedule: Schedule, seconds: int) -> dt.datetime:
    """Store ``schedule`` as if its last firing was ``seconds`` ago (no leader since)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    last = now - dt.timedelta(seconds=seconds)
    store = ScheduleStore(redis, keys)
    await store.put(schedule)
    await redis.hset(keys.schedule_runs, f"{schedule.name}:fired", last.timestamp())  # type: ignore[misc]
    return last


@pytest.fixture
def namespace_keys(module_namespace: str) -> Keys:
    return Keys(module_namespace)


async def test_a_lone_instance_leads_seeds_nothing_over_existing_schedules_and_fires(
    module_namespace: str, redis: Redis, namespace_keys: Keys, tmp_path: Path
) -> None:
    await ScheduleStore(redis, namespace_keys).put(every_second("solo"))
    async with running_scheduler(module_namespace, tmp_path) as (scheduler, fired):
        await _wait(lambda: len([f for f in fired if f[0] == "solo"]) >= 2)
        assert scheduler.is_leader
        assert all(outcome is Fired.QUEUED for *_, outcome in fired)
    names = {s.name for s in await ScheduleStore(redis, namespace_keys).all()}
    assert "cleanup-exports" not in names  # a namespace with schedules is never re-seeded
    assert await redis.get(namespace_keys.scheduler_leader) is None  # released on stop
    await redis.hdel(namespace_keys.schedules, "solo")  # type: ignore[misc]


async def test_coalescing_runs_missed_firings_once_for_the_latest_missed_time(
    module_namespace: str, redis: Redis, namespace_keys: Keys, tmp_path: Path
) -> None:
    schedule = every_second(
        "coalesced", coalesce=True, changed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    last = await _missed_since(redis, namespace_keys, schedule, 6)
    async with running_scheduler(module_namespace, tmp_path) as (_, fired):
        await _wait(lambda: len([f for f in fired if f[0] == "coalesced"]) >= 2)
    times = [t for name, t, _ in fired if name == "coalesced"]
    # Five or six fire times were missed: one firing stands for them all, the latest.
    assert times[0] >= last + dt.timedelta(seconds=5)
    assert times[1] > times[0]  # then it carries on from there
    await redis.hdel(namespace_keys.schedules, "coalesced")  # type: ignore[misc]


async def test_without_coalescing_each_missed_firing_runs_within_the_grace_time(
    module_namespace: str, redis: Redis, namespace_keys: Keys, tmp_path: Path
) -> None:
    schedule = every_second(
        "graced", changed_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), misfire_grace_seconds=5
    )
    last = await _missed_since(redis, namespace_keys, schedule, 12)
    started = dt.datetime.now(dt.UTC)
    async with running_scheduler(module_namespace, tmp_path) as (_, fired):
        await _wait(lambda: any(t > started for n, t, _ in fired if n == "graced"))
    times = sorted(t for name, t, _ in fired if name == "graced")
    assert len(times) == len(set(times))
    # Missed by more than the grace time: skipped. Within it: run late, each once.
    assert all(t >= started - dt.timedelta(seconds=6) for t in times)
    assert any(t <= started for t in times)  # caught up late
    assert all(b - a == dt.timedelta(seconds=1) for a, b in itertools.pairwise(times))
    assert times[0] > last + dt.timedelta(seconds=5)
    await redis.hdel(namespace_keys.schedules, "graced")  # type: ignore[misc]


def test_a_bad_schedule_timezone_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_SCHEDULE_TIMEZONE"):
        load_settings(MaintenanceSettings, {"CONVEYOR_SCHEDULE_TIMEZONE": "Mars/Olympus"})


class _RefusingLifecycle:
    """Stands in for a lifecycle whose RabbitMQ refuses every publish."""

    def __init__(self) -> None:
        self.attempts = 0

    async def submit(self, envelope: object) -> None:
        self.attempts += 1
        raise BrokerUnavailableError("publish")


def _firer(
    redis: Redis, keys: Keys, store: JobStore, lifecycle: object, lock: LeaderLock
) -> ScheduleFirer:
    return ScheduleFirer(
        redis=redis,
        keys=keys,
        lifecycle=lifecycle,  # type: ignore[arg-type]
        job_store=store,
        schedules=ScheduleStore(redis, keys),
        lock=lock,
        claim_ttl=60,
    )


async def test_a_firing_that_cannot_publish_stays_pending_and_is_queued_once_later(
    module_namespace: str,
    redis: Redis,
    namespace_keys: Keys,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    store, lifecycle = module_store, module_lifecycle
    schedules = ScheduleStore(redis, namespace_keys)
    schedule = every_second("refused")
    await schedules.put(schedule)
    lock = LeaderLock(redis, namespace_keys, instance="refused-test", ttl=30)
    assert await lock.try_acquire()
    refusing = _RefusingLifecycle()
    firer = _firer(redis, namespace_keys, store, refusing, lock)
    fire_time = dt.datetime.now(dt.UTC).replace(microsecond=0)
    job_id = firing_job_id("refused", fire_time)
    try:
        assert await firer.fire(schedule, fire_time) is Fired.FAILED
        assert refusing.attempts == PUBLISH_ATTEMPTS
        last = (await schedules.run_states(["refused"]))["refused"].last
        assert last is not None
        assert last.scheduled_for == fire_time
        assert last.error is not None and "RabbitMQ is unavailable" in last.error
        # The claim stays: APScheduler firing the same time again queues nothing...
        assert await firer.fire(schedule, fire_time) is Fired.ALREADY
        assert refusing.attempts == PUBLISH_ATTEMPTS
        # ...but the firing is pending, and a sync retries it (one attempt while refused).
        assert await firer.recover_pending({"refused": schedule}) == [Fired.FAILED]
        assert refusing.attempts == PUBLISH_ATTEMPTS + 1
        working = _firer(redis, namespace_keys, store, lifecycle, lock)
        assert await working.recover_pending({"refused": schedule}) == [Fired.QUEUED]
        assert await store.get(job_id) is not None
        assert await working.recover_pending({"refused": schedule}) == []  # queued once
        assert await redis.zcard(namespace_keys.schedule_pending_firings) == 0
    finally:
        await lock.release()
        await redis.hdel(namespace_keys.schedules, "refused")  # type: ignore[misc]


class _DyingLifecycle:
    """A lifecycle whose publish never completes: the leader dies before it queues the job."""

    async def submit(self, envelope: object) -> None:
        await asyncio.Event().wait()


async def test_a_firing_claimed_by_a_leader_that_died_before_queueing_is_queued_by_the_next(
    module_namespace: str,
    redis: Redis,
    namespace_keys: Keys,
    module_store: JobStore,
    tmp_path: Path,
) -> None:
    store = module_store
    # Hourly, so the new leader's only firing in this test is the recovered one.
    schedule = msgspec.structs.replace(
        every_second("orphaned"), trigger=ScheduleTrigger(interval_seconds=3600)
    )
    await ScheduleStore(redis, namespace_keys).put(schedule)
    dead = LeaderLock(redis, namespace_keys, instance="dies", ttl=30)
    assert await dead.try_acquire()
    fire_time = dt.datetime.now(dt.UTC).replace(microsecond=0)
    firing = asyncio.create_task(
        _firer(redis, namespace_keys, store, _DyingLifecycle(), dead).fire(schedule, fire_time)
    )
    job_id = firing_job_id("orphaned", fire_time)
    await _wait_async(lambda: redis.zcard(namespace_keys.schedule_pending_firings))
    firing.cancel()  # the leader dies between its claim and its publish
    await redis.delete(namespace_keys.scheduler_leader)  # and its lock expires
    try:
        async with running_scheduler(module_namespace, tmp_path):
            await _wait_async(lambda: store.get(job_id))
        record = await store.get(job_id)
        assert record is not None and record.owner == "scheduler"
        assert await redis.zcard(namespace_keys.schedule_pending_firings) == 0
    finally:
        await redis.hdel(namespace_keys.schedules, "orphaned")  # type: ignore[misc]


async def _wait_async(probe: Callable[[], Awaitable[object]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await probe():
            await asyncio.sleep(0.05)
