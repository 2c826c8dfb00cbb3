"""The ``MARK_DEAD_LETTERED`` script: the flag on a record, never a bare record of a purged job."""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore import JobStore, StartStatus
from tests.runtime.jobstore.support import envelope, fail, new_owner, start


async def test_marking_a_failed_job_dead_lettered_is_seen_by_its_next_start(
    store: JobStore,
) -> None:
    env = envelope(new_owner())
    await start(store, env)
    await fail(store, env)
    await store.mark_dead_lettered(env.job_id)
    outcome = await start(store, env)
    assert (outcome.status, outcome.dead_lettered) == (StartStatus.FINISHED, True)


async def test_marking_a_purged_job_does_not_bring_its_record_back(
    store: JobStore, redis: Redis, keys: Keys
) -> None:
    env = envelope(new_owner())
    await start(store, env)
    await fail(store, env)
    assert await store.delete_records([(env.job_id, env.owner)]) == 1
    await store.mark_dead_lettered(env.job_id)
    assert not await redis.exists(keys.job(env.job_id))
