"""The ``TRANSITION`` script: allowed or refused, fields written, and what a final state frees."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.events import JobCancelled, JobRetrying, JobSucceeded
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState, Progress
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.limits import LimitStore
from tests.runtime.jobstore.support import (
    cancelled,
    envelope,
    finish,
    history,
    new_owner,
    queued,
    start,
)


async def test_an_allowed_transition_writes_its_fields_and_event(store: JobStore) -> None:
    env = envelope(new_owner())
    await start(store, env)
    error = JobError(code=ErrorCode.INTERNAL, message="later")
    event = JobRetrying(
        job_id=env.job_id,
        job_type=env.job_type,
        owner=env.owner,
        error=error,
        next_attempt=2,
        delay_seconds=1.0,
    )
    outcome = await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.RUNNING,),
        to=JobState.RETRYING,
        event=event,
        fields={"error": error, "progress": Progress(done=3)},
    )
    assert outcome.ok and outcome.previous_state == "running"
    assert outcome.event is not None and outcome.event.seq == 3
    record = await store.get(env.job_id)
    assert record is not None
    assert (record.state, record.error, record.progress) == (
        JobState.RETRYING,
        error,
        Progress(done=3),
    )
    assert record.updated_at == event.at and record.finished_at is None
    [*_, (seq, recorded)] = await history(store, env.job_id)
    assert seq == 3 and isinstance(recorded, JobRetrying) and recorded.seq == 3


async def test_a_transition_from_a_state_not_allowed_changes_nothing(store: JobStore) -> None:
    env = envelope(new_owner())
    await store.create(env, queued(env), trace_id=None)
    event = JobSucceeded(job_id=env.job_id, job_type=env.job_type, owner=env.owner)
    outcome = await store.transition(
        env.job_id, env.owner, allowed=(JobState.RUNNING,), to=JobState.SUCCEEDED, event=event
    )
    assert (outcome.ok, outcome.previous_state, outcome.event) == (False, "queued", None)
    record = await store.get(env.job_id)
    assert record is not None and (record.state, record.last_seq) == (JobState.QUEUED, 1)
    assert len(await history(store, env.job_id)) == 1


async def test_a_transition_of_a_job_without_a_record_does_not_create_one(
    store: JobStore,
) -> None:
    env = envelope(new_owner())
    outcome = await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.QUEUED,),
        to=JobState.CANCELLED,
        event=cancelled(env),
    )
    assert (outcome.ok, outcome.previous_state) == (False, None)
    assert await store.get(env.job_id) is None
    assert await store.owner_events_after(env.owner, "0") == []


async def test_a_final_state_leaves_the_active_set_and_frees_the_in_flight_slot(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    limits = LimitStore(redis, keys, store, retention_seconds=3600)
    assert (await limits.admit_job(env.owner, env.job_id, limit=5)).admitted
    await store.create(env, queued(env), trace_id=None)
    assert await limits.in_flight(env.owner) == 1
    outcome = await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.QUEUED,),
        to=JobState.CANCELLED,
        event=cancelled(env),
    )
    assert outcome.ok
    assert await limits.in_flight(env.owner) == 0
    assert not await redis.sismember(keys.active_jobs, env.job_id)
    record = await store.get(env.job_id)
    assert record is not None
    assert record.state is JobState.CANCELLED and record.finished_at is not None
    [*_, (_, last)] = await history(store, env.job_id)
    assert isinstance(last, JobCancelled)


async def test_a_final_state_keeps_the_record_and_history_the_retention_from_then(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    await start(store, env)
    job_keys = (keys.job(env.job_id), keys.job_events(env.job_id), keys.owner_events(env.owner))
    for key in job_keys:  # as if the job had run for most of the retention
        await redis.expire(key, 10)
    assert (await finish(store, env)).ok
    for key in job_keys:
        assert 10 < await redis.ttl(key) <= 3600


async def test_a_transition_may_not_set_the_fields_its_script_numbers_and_moves(
    store: JobStore,
) -> None:
    env = envelope(new_owner())
    await start(store, env)
    for fields in ({"state": "queued"}, {"last_seq": 7}):
        with pytest.raises(ValueError, match="state and last_seq"):
            await store.transition(
                env.job_id,
                env.owner,
                allowed=(JobState.RUNNING,),
                to=JobState.SUCCEEDED,
                event=JobSucceeded(job_id=env.job_id, job_type=env.job_type, owner=env.owner),
                fields=fields,
            )
    record = await store.get(env.job_id)
    assert record is not None and (record.state, record.last_seq) == (JobState.RUNNING, 2)


async def test_a_field_set_to_none_is_cleared(store: JobStore) -> None:
    env = envelope(new_owner())
    await start(store, env)
    error = JobError(code=ErrorCode.INTERNAL, message="boom")
    event = JobRetrying(
        job_id=env.job_id,
        job_type=env.job_type,
        owner=env.owner,
        error=error,
        next_attempt=2,
        delay_seconds=0.1,
    )
    await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.RUNNING,),
        to=JobState.RETRYING,
        event=event,
        fields={"error": error},
    )
    await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.RETRYING,),
        to=JobState.QUEUED,
        event=queued(env),
        fields={"error": None, "attempt": 2},
    )
    record = await store.get(env.job_id)
    assert record is not None
    assert (record.state, record.error, record.attempt) == (JobState.QUEUED, None, 2)


async def test_a_replayed_job_counts_as_active_again(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    await store.create(env, queued(env), trace_id=None)
    await store.transition(
        env.job_id,
        env.owner,
        allowed=(JobState.QUEUED,),
        to=JobState.CANCELLED,
        event=cancelled(env),
    )
    assert not await redis.sismember(keys.active_jobs, env.job_id)
    await store.mark_active(env.job_id)
    assert await redis.sismember(keys.active_jobs, env.job_id)
