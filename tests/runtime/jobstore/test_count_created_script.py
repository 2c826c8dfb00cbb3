"""The ``COUNT_CREATED`` script: jobs of a window by type, current state and time bucket."""

from __future__ import annotations

import datetime as dt

from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.jobstore.counting import CreatedCount
from tests.runtime.jobstore.support import cancelled, envelope, new_owner, queued

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SINCE_MS = int(T0.timestamp() * 1000)


async def _created_at(store: JobStore, owner: str, seconds: float) -> str:
    env = envelope(owner, created_at=T0 + dt.timedelta(seconds=seconds))
    await store.create(env, queued(env), trace_id=None)
    return env.job_id


async def test_jobs_are_counted_by_type_state_and_bucket_and_sliced_newest_first(
    module_store: JobStore, redis: Redis
) -> None:
    store, owner = module_store, new_owner()
    for seconds in (1, 2, 25):
        await _created_at(store, owner, seconds)
    last = await _created_at(store, owner, 35)
    env = envelope(owner, job_id=last)
    await store.transition(
        last, owner, allowed=(JobState.QUEUED,), to=JobState.CANCELLED, event=cancelled(env)
    )
    await _created_at(store, owner, 60)  # outside the window
    gone = await _created_at(store, owner, 3)
    await redis.delete(store.keys.job(gone))  # a record expired before its index entry

    whole = await store.count_created_slice(
        SINCE_MS, SINCE_MS + 40_000, offset=0, count=100, bucket_ms=10_000, buckets=4
    )
    assert whole.scanned == 5
    assert sorted(whole.counts, key=lambda c: c.bucket) == [
        CreatedCount("diagnostics", "queued", 0, 2),
        CreatedCount("diagnostics", "queued", 2, 1),
        CreatedCount("diagnostics", "cancelled", 3, 1),
    ]
    newest = await store.count_created_slice(
        SINCE_MS, SINCE_MS + 40_000, offset=0, count=2, bucket_ms=10_000, buckets=4
    )
    assert newest.scanned == 2
    assert {(c.bucket, c.state) for c in newest.counts} == {(2, "queued"), (3, "cancelled")}
    assert await store.count_created(SINCE_MS, SINCE_MS + 40_000) == 5
    total, types = await store.sample_created_types(SINCE_MS + 20_000, 10)
    assert (total, types) == (3, ["diagnostics"] * 3)
