"""How many Redis commands a job's lifecycle issues, counted on a private ``redis-server``.

The scripts' calls are the cost of every job (``bench.peers`` prints them per job), so the
counts are pinned here: a change that adds a call fails, one that removes calls lowers the
bound. Counted with ``INFO commandstats`` (calls inside scripts included) on a server only
this test uses, after one job has loaded the scripts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued
from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.limits import LimitStore, SubmitLimits
from tests.runtime.jobstore.support import envelope, finish, new_owner, start
from tests.support.private_redis import private_redis

# Per job, EVALSHAs included. Over AMQP: the worker's START (creating the record) and its
# final TRANSITION (25, from 33 before one HMGET and one HSET per script, one XREVRANGE per
# script and one EXPIRE per key). Over HTTP the gateway adds its admission (one script for the
# submit token and the in-flight slot) and its CREATE: the whole record when the worker got
# there first (the common case), a new record otherwise (from 48 and 47).
AMQP_JOB_CALLS = 25
GATEWAY_FIRST_JOB_CALLS = 38
WORKER_FIRST_JOB_CALLS = 35


class Counted:
    """A job store and limits on a private Redis, and the commands it served since ``mark``."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        keys = Keys("calls")
        self.store = JobStore(redis, keys, retention_seconds=3600)
        self.limits = LimitStore(redis, keys, self.store, retention_seconds=3600)
        self._before: dict[str, int] = {}

    async def _stats(self) -> dict[str, int]:
        stats = await self.redis.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): int(stat["calls"])
            for name, stat in stats.items()
            if name != "cmdstat_info"
        }

    async def calls(self, job: Callable[[], Awaitable[None]]) -> dict[str, int]:
        """The commands ``job`` made Redis run, by name (a warm-up job runs first)."""
        await job()  # loads the scripts (NOSCRIPT, SCRIPT LOAD) outside the count
        before = await self._stats()
        await job()
        after = await self._stats()
        return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


@pytest.fixture(scope="module")
async def counted() -> AsyncIterator[Counted]:
    async with private_redis() as server:
        client = server.client()
        try:
            yield Counted(client)
        finally:
            await client.aclose()


def _breakdown(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(calls.items(), key=lambda kv: -kv[1]))


async def _admit(counted: Counted, owner: str, job_id: str) -> None:
    """What the gateway asks before it publishes a user's job (submit rate, jobs in flight)."""
    limits = SubmitLimits(rate=1000, burst=1000, max_in_flight=1000)
    checked = await counted.limits.admit_submission(owner, job_id, limits=limits)
    assert checked.admission.admitted


async def test_a_job_over_amqp_costs_at_most_its_pinned_redis_calls(counted: Counted) -> None:
    owner = new_owner()

    async def job() -> None:
        env = envelope(owner)
        assert (await start(counted.store, env)).started is not None
        assert (await finish(counted.store, env)).ok

    calls = await counted.calls(job)
    assert sum(calls.values()) <= AMQP_JOB_CALLS, _breakdown(calls)


async def test_a_job_the_gateway_records_first_costs_at_most_its_pinned_calls(
    counted: Counted,
) -> None:
    owner = new_owner()

    async def job() -> None:
        env = envelope(owner)
        await _admit(counted, owner, env.job_id)
        queued = JobQueued(job_id=env.job_id, job_type=env.job_type, owner=owner, attempt=1)
        assert await counted.store.create(env, queued, trace_id=None) is not None
        assert (await start(counted.store, env)).started is not None
        assert (await finish(counted.store, env)).ok

    calls = await counted.calls(job)
    assert sum(calls.values()) <= GATEWAY_FIRST_JOB_CALLS, _breakdown(calls)


async def test_a_job_its_worker_records_first_costs_at_most_its_pinned_calls(
    counted: Counted,
) -> None:
    """The common case over HTTP: the worker starts the job before the gateway's CREATE."""
    owner = new_owner()

    async def job() -> None:
        env = envelope(owner)
        await _admit(counted, owner, env.job_id)
        assert (await start(counted.store, env)).started is not None
        queued = JobQueued(job_id=env.job_id, job_type=env.job_type, owner=owner, attempt=1)
        assert await counted.store.create(env, queued, trace_id=None) is None
        assert (await finish(counted.store, env)).ok

    calls = await counted.calls(job)
    assert sum(calls.values()) <= WORKER_FIRST_JOB_CALLS, _breakdown(calls)


async def test_reserving_an_idempotency_key_is_one_call(counted: Counted) -> None:
    owner = new_owner()

    async def reserve() -> None:
        job_id = f"job-{uuid.uuid4().hex}"
        claimed = await counted.store.reserve_idempotency_key(
            owner, job_id, job_id, "digest", ttl_seconds=60
        )
        assert claimed is None

    calls = await counted.calls(reserve)
    assert calls == {"set": 1}, _breakdown(calls)
