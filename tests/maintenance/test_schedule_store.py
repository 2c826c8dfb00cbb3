"""Schedule definitions in Redis: concurrent admin edits compose instead of overwriting."""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.schedules import Schedule, ScheduleTrigger
from conveyor.runtime.schedule_store import ScheduleStore
from tests.maintenance.support import every_second


async def test_concurrent_edits_of_one_schedule_all_take_effect(redis: Redis, keys: Keys) -> None:
    store = ScheduleStore(redis, keys)
    await store.put(every_second("edited"))

    def reschedule(current: Schedule) -> Schedule:
        return msgspec.structs.replace(current, trigger=ScheduleTrigger(interval_seconds=60))

    def grace(current: Schedule) -> Schedule:
        return msgspec.structs.replace(current, misfire_grace_seconds=7)

    # Many interleaved read-modify-writes: a plain read-then-put would drop some of them.
    changes = [lambda s: msgspec.structs.replace(s, paused=True), reschedule, grace] * 3
    results = await asyncio.gather(*(store.update("edited", change) for change in changes))
    assert all(result is not None for result in results)
    stored = await store.get("edited")
    assert stored is not None
    assert stored.paused
    assert stored.trigger.interval_seconds == 60
    assert stored.misfire_grace_seconds == 7


async def test_updating_an_unknown_schedule_changes_nothing(redis: Redis, keys: Keys) -> None:
    store = ScheduleStore(redis, keys)
    assert await store.update("missing", lambda s: s) is None
    assert await store.get("missing") is None
