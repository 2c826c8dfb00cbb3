"""The ``START`` script: each status it returns, and the record and history it leaves."""

from __future__ import annotations

import datetime as dt

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore, StartStatus
from tests.runtime.jobstore.support import envelope, fail, finish, history, new_owner, queued, start


async def test_starting_an_unrecorded_job_creates_it_and_records_both_events(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    outcome = await start(store, env, worker="worker-a")
    assert outcome.status is StartStatus.STARTED
    assert (outcome.previous_state, outcome.crashes) == ("queued", 0)
    assert outcome.created is not None and outcome.started is not None
    assert (outcome.created.seq, outcome.started.seq) == (1, 2)
    assert outcome.started.prev_cursor == outcome.created.cursor
    record = await store.get(env.job_id)
    assert record is not None
    assert (record.state, record.worker, record.last_seq) == (JobState.RUNNING, "worker-a", 2)
    assert record.started_at is not None
    events = [type(e) for _, e in await history(store, env.job_id)]
    assert events == [JobQueued, JobStarted]
    assert await redis.sismember(keys.active_jobs, env.job_id)


async def test_starting_a_queued_job_records_only_its_start(store: JobStore) -> None:
    env = envelope(new_owner())
    await store.create(env, queued(env), trace_id=None)
    outcome = await start(store, env)
    assert outcome.status is StartStatus.STARTED
    assert outcome.created is None
    assert outcome.started is not None and outcome.started.seq == 2


async def test_a_start_chains_its_events_onto_the_owners_stream_and_keeps_them_retained(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    owner = new_owner()
    recorded = envelope(owner)  # recorded by its gateway, started later
    first = await store.create(recorded, queued(recorded), trace_id=None)
    assert first is not None
    env = envelope(owner)
    outcome = await start(store, env)
    assert outcome.created is not None and outcome.started is not None
    # Each event's prev is the owner stream's entry just before it: the queued event follows
    # the owner's newest, the started event the queued one.
    assert outcome.created.prev_cursor == first.cursor
    assert outcome.started.prev_cursor == outcome.created.cursor
    later = await start(store, recorded)
    assert later.started is not None and later.started.seq == 2
    assert later.started.prev_cursor == outcome.started.cursor
    entries = await store.owner_events_after(owner, "0")
    assert [e.cursor for e in entries] == [
        first.cursor,
        outcome.created.cursor,
        outcome.started.cursor,
        later.started.cursor,
    ]
    assert [e.body for e in entries][1:3] == [outcome.created.body, outcome.started.body]
    for key in (keys.job(env.job_id), keys.job_events(env.job_id), keys.owner_events(owner)):
        assert 0 < await redis.ttl(key) <= 3600
    assert await redis.zscore(keys.owner_jobs(owner), env.job_id) is not None
    assert await redis.zscore(keys.all_jobs, env.job_id) is not None


async def test_a_finished_job_is_not_started_again(store: JobStore) -> None:
    env = envelope(new_owner())
    await start(store, env)
    assert (await finish(store, env)).ok
    outcome = await start(store, env)
    assert outcome.status is StartStatus.FINISHED
    assert (outcome.previous_state, outcome.dead_lettered) == ("succeeded", False)
    record = await store.get(env.job_id)
    assert record is not None and (record.state, record.last_seq) == (JobState.SUCCEEDED, 3)


async def test_a_finished_job_says_whether_its_dead_letter_went_out(store: JobStore) -> None:
    env = envelope(new_owner())
    await start(store, env)
    assert (await fail(store, env)).ok
    assert (await start(store, env)).dead_lettered is False
    await store.mark_dead_lettered(env.job_id)
    outcome = await start(store, env)
    assert (outcome.status, outcome.dead_lettered) == (StartStatus.FINISHED, True)


async def test_an_older_attempt_than_the_records_is_stale(store: JobStore) -> None:
    env = envelope(new_owner())
    second = msgspec.structs.replace(env, attempt=2)
    assert (await start(store, second)).status is StartStatus.STARTED
    outcome = await start(store, env)
    assert (outcome.status, outcome.previous_state) == (StartStatus.STALE, "running")
    record = await store.get(env.job_id)
    assert record is not None and record.attempt == 2


async def test_a_job_whose_worker_died_is_restarted_and_its_crashes_counted(
    store: JobStore,
) -> None:
    env = envelope(new_owner())
    await start(store, env, worker="worker-dead")  # no heartbeat key: that worker is gone
    outcome = await start(store, env, worker="worker-b", max_crashes=3)
    assert (outcome.status, outcome.previous_state, outcome.crashes) == (
        StartStatus.STARTED,
        "running",
        1,
    )
    record = await store.get(env.job_id)
    assert record is not None and record.worker == "worker-b"


async def test_a_job_that_crashed_too_often_is_not_started(store: JobStore) -> None:
    env = envelope(new_owner())
    await start(store, env, worker="worker-dead")
    assert (await start(store, env, worker="worker-b", max_crashes=2)).crashes == 1
    outcome = await start(store, env, worker="worker-c", max_crashes=2)
    assert (outcome.status, outcome.crashes) == (StartStatus.CRASHED_TOO_OFTEN, 2)
    record = await store.get(env.job_id)
    assert record is not None and record.worker == "worker-b"  # no new start recorded
    assert record.last_seq == 3
    # The refused start still counted the crash: the next delivery sees both.
    assert await store.deaths([env.job_id]) == {env.job_id: (2, False)}


async def test_a_job_running_on_a_live_worker_is_running_elsewhere(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    holder = f"worker-live-{env.job_id}"
    await start(store, env, worker=holder)
    await redis.set(keys.worker(holder), "{}", ex=60)  # its heartbeat
    try:
        outcome = await start(store, env, worker="worker-b")
        assert (outcome.status, outcome.crashes) == (StartStatus.RUNNING_ELSEWHERE, 0)
        # The same worker getting its own message back is a restart on that worker.
        assert (await start(store, env, worker=holder)).status is StartStatus.STARTED
    finally:
        await redis.delete(keys.worker(holder))


async def test_a_second_envelope_with_a_taken_idempotency_key_is_a_duplicate(
    store: JobStore,
) -> None:
    owner = new_owner()
    first, second = envelope(owner, idempotency_key="once"), envelope(owner, idempotency_key="once")
    assert (await start(store, first)).status is StartStatus.STARTED
    outcome = await start(store, second)
    assert (outcome.status, outcome.duplicate_of) == (StartStatus.DUPLICATE, first.job_id)
    assert await store.get(second.job_id) is None
    # Its own redelivery is not a duplicate of itself.
    assert (await start(store, first)).status is StartStatus.STARTED


async def test_an_envelope_taking_another_jobs_id_is_refused(store: JobStore) -> None:
    owner = new_owner()
    original = envelope(owner, idempotency_key="mine")
    await start(store, original)
    impostor = envelope(
        owner,
        job_id=original.job_id,
        created_at=original.created_at + dt.timedelta(seconds=1),
    )
    outcome = await start(store, impostor)
    assert outcome.status is StartStatus.ID_IN_USE
    assert (outcome.previous_state, outcome.existing_key) == ("running", "mine")
    record = await store.get(original.job_id)
    assert record is not None and record.created_at == original.created_at
