"""The ``CREATE`` script: a queued record with its indexes and first event, or the existing one."""

from __future__ import annotations

import datetime as dt

from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore
from tests.runtime.jobstore.support import envelope, history, new_owner, queued


async def test_creating_a_job_records_it_queued_with_its_first_event(store: JobStore) -> None:
    env = envelope(new_owner(), idempotency_key="k")
    created = await store.create(env, queued(env), trace_id="t-1")
    assert created is not None
    assert created.seq == 1
    assert created.prev_cursor == "0-0"  # the owner's first event
    record = await store.get(env.job_id)
    assert record is not None
    assert (record.state, record.last_seq, record.attempt) == (JobState.QUEUED, 1, 1)
    assert (record.idempotency_key, record.trace_id) == ("k", "t-1")
    assert record.created_at == env.created_at
    [(seq, event)] = await history(store, env.job_id)
    assert seq == 1 and isinstance(event, JobQueued) and event.seq == 1
    # The body the caller gets back is the recorded one, seq filled in.
    assert (await store.events_after(env.job_id, 0))[0][1] == created.body


async def test_a_created_job_is_listed_active_and_in_its_owners_stream(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    owner = new_owner()
    first = envelope(owner)
    second = envelope(owner, created_at=first.created_at + dt.timedelta(milliseconds=5))
    a = await store.create(first, queued(first), trace_id=None)
    b = await store.create(second, queued(second), trace_id=None)
    assert a is not None and b is not None
    assert b.prev_cursor == a.cursor  # the owner stream chains its entries
    page = await store.list_jobs(owner=owner)
    assert [r.job_id for r in page.jobs] == [second.job_id, first.job_id]
    assert await redis.sismember(keys.active_jobs, first.job_id)
    entries = await store.owner_events_after(owner, "0")
    assert [(e.cursor, e.job_id) for e in entries] == [
        (a.cursor, first.job_id),
        (b.cursor, second.job_id),
    ]
    assert await store.latest_owner_cursor(owner) == b.cursor
    assert 0 < await redis.ttl(keys.job(first.job_id)) <= 3600


async def test_creating_an_existing_job_changes_nothing_and_returns_it(store: JobStore) -> None:
    env = envelope(new_owner())
    assert await store.create(env, queued(env), trace_id=None) is not None
    assert await store.create(env, queued(env), trace_id=None) is None
    again = await store.create_or_get(env, queued(env), trace_id=None)
    assert isinstance(again, JobRecord)
    assert (again.job_id, again.last_seq) == (env.job_id, 1)
    assert len(await history(store, env.job_id)) == 1


async def test_an_owner_with_no_events_has_the_zero_cursor(store: JobStore) -> None:
    assert await store.latest_owner_cursor(new_owner()) == "0-0"
