"""With ``CONVEYOR_REDIS_WAIT_REPLICAS``, what the job store's writes say when no replica
acknowledged them: the record at submit and a final outcome fail (written again by their
callers), any other event is recorded but marked unreplicated, so it is not announced.

The shared Redis has no replica, so every ``WAIT`` comes back short here, as on a master the
Sentinels replaced (RELIABILITY.md, Redis failover).
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobProgressed
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.script_batcher import ReplicationShortError, ReplicaWait
from tests.runtime.jobstore.support import envelope, finish, history, new_owner, queued, start


def _waiting_store(redis: Redis, keys: Keys, shortfalls: list[int]) -> JobStore:
    return JobStore(
        redis, keys, retention_seconds=3600, replica_wait=ReplicaWait(1, 10, shortfalls.append)
    )


async def test_unacknowledged_events_are_recorded_and_marked_unreplicated(
    redis: Redis, keys: Keys, store: JobStore
) -> None:
    shortfalls: list[int] = []
    waiting = _waiting_store(redis, keys, shortfalls)
    env = envelope(new_owner())
    with pytest.raises(ReplicationShortError):
        await waiting.create(env, queued(env), trace_id=None)
    await store.delete_records([(env.job_id, env.owner)])

    started = await start(waiting, env)  # creates the record (job.queued) and starts it
    assert started.created is not None
    assert started.started is not None
    assert not started.created.replicated
    assert not started.started.replicated
    event = JobProgressed(job_id=env.job_id, job_type=env.job_type, owner=env.owner, done=1)
    progressed = await waiting.transition(
        env.job_id, env.owner, allowed=(JobState.RUNNING,), to=JobState.RUNNING, event=event
    )
    assert progressed.ok
    assert progressed.event is not None
    assert not progressed.event.replicated
    with pytest.raises(ReplicationShortError):
        await finish(waiting, env)
    assert [seq for seq, _ in await history(store, env.job_id)] == [1, 2, 3, 4]
    assert shortfalls == [0] * 4  # create, start, progress, finish: one WAIT each


async def test_without_a_replica_wait_every_event_counts_as_replicated(store: JobStore) -> None:
    env = envelope(new_owner())
    started = await start(store, env)
    assert started.created is not None
    assert started.started is not None
    assert started.created.replicated
    assert started.started.replicated
