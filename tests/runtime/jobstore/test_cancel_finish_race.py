"""Cancel vs finish on a running job: exactly one wins, and the record and history agree.

The gateway (``JobLifecycle.cancel``) and the worker (its ``transition`` to succeeded) race on
separate Redis connections, as they do from separate processes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobCancelled, JobQueued, JobStarted, JobSucceeded
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore, Transitioned
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.redis_client import open_redis
from tests.runtime.jobstore.support import envelope, finish, history, new_owner, start
from tests.support.namespace import REDIS_URL

PAIRS = 150
"""Jobs raced one pair at a time, each pair's first sender drawn at random."""
AT_ONCE = 100
"""Jobs raced all together."""


@pytest.fixture
async def worker_store(keys: Keys) -> AsyncIterator[JobStore]:
    """The worker's store: same namespace, its own connection pool."""
    client = open_redis(REDIS_URL)
    yield JobStore(client, keys, retention_seconds=3600, history_max=100)
    await client.aclose()


@pytest.fixture
async def gateway(store: JobStore, broker: Broker) -> AsyncIterator[JobLifecycle]:
    lifecycle = JobLifecycle(store, broker)
    yield lifecycle
    await lifecycle.drain()


async def _running_jobs(store: JobStore, owner: str, n: int) -> list[JobEnvelope]:
    envelopes = [envelope(owner) for _ in range(n)]
    for env in envelopes:
        await start(store, env)
    return envelopes


def _pair(
    gateway: JobLifecycle, worker_store: JobStore, env: JobEnvelope
) -> tuple[Callable[[], Awaitable[Transitioned]], Callable[[], Awaitable[Transitioned]]]:
    def cancel() -> Awaitable[Transitioned]:
        return gateway.cancel(env.job_id, env.owner, env.job_type, "race")

    def done() -> Awaitable[Transitioned]:
        return finish(worker_store, env)

    return cancel, done


async def _race(
    gateway: JobLifecycle, worker_store: JobStore, env: JobEnvelope, rng: random.Random
) -> tuple[Transitioned, Transitioned]:
    cancel, done = _pair(gateway, worker_store, env)
    if rng.random() < 0.5:
        return await asyncio.gather(cancel(), done())
    finished, cancelled = await asyncio.gather(done(), cancel())
    return cancelled, finished


async def _assert_one_winner(
    store: JobStore,
    redis: Redis,
    keys: Keys,
    env: JobEnvelope,
    outcomes: tuple[Transitioned, Transitioned],
) -> JobState:
    cancelled, finished = outcomes
    assert cancelled.ok != finished.ok, (env.job_id, cancelled, finished)
    winner, loser = (cancelled, finished) if cancelled.ok else (finished, cancelled)
    state = JobState.CANCELLED if cancelled.ok else JobState.SUCCEEDED
    # The winner moved the job from running; the loser saw the winner's state.
    assert (winner.previous_state, loser.previous_state) == ("running", state.value)
    assert winner.event is not None and winner.event.seq == 3 and loser.event is None
    record = await store.get(env.job_id)
    assert record is not None
    assert (record.state, record.last_seq) == (state, 3)
    events = await history(store, env.job_id)
    assert [type(e) for _, e in events] == [
        JobQueued,
        JobStarted,
        JobCancelled if state is JobState.CANCELLED else JobSucceeded,
    ]
    assert (await store.events_after(env.job_id, 2))[0][1] == winner.event.body
    assert not await redis.sismember(keys.active_jobs, env.job_id)
    return state


async def _owner_stream_agrees(store: JobStore, owner: str, winners: dict[str, JobState]) -> None:
    """The owner's stream holds each job's three events, its last one the winner's."""
    entries = await store.owner_events_after(owner, "0", limit=10 * len(winners))
    per_job: dict[str, list[bytes]] = {}
    for entry in entries:
        per_job.setdefault(entry.job_id, []).append(entry.body)
    assert per_job.keys() == winners.keys()
    for job_id, state in winners.items():
        bodies = per_job[job_id]
        assert len(bodies) == 3
        tag = b'"job.cancelled"' if state is JobState.CANCELLED else b'"job.succeeded"'
        assert tag in bodies[-1]


async def test_cancel_and_finish_racing_pair_by_pair_each_leave_one_outcome(
    store: JobStore, worker_store: JobStore, gateway: JobLifecycle, redis: Redis, keys: Keys
) -> None:
    owner = new_owner()
    rng = random.Random(17)
    winners: dict[str, JobState] = {}
    for env in await _running_jobs(worker_store, owner, PAIRS):
        outcomes = await _race(gateway, worker_store, env, rng)
        winners[env.job_id] = await _assert_one_winner(store, redis, keys, env, outcomes)
    await _owner_stream_agrees(store, owner, winners)
    # Both sides won some races: the test raced them rather than ordering them.
    assert set(winners.values()) == {JobState.CANCELLED, JobState.SUCCEEDED}


async def test_cancel_and_finish_racing_on_many_jobs_at_once_each_leave_one_outcome(
    store: JobStore, worker_store: JobStore, gateway: JobLifecycle, redis: Redis, keys: Keys
) -> None:
    owner = new_owner()
    rng = random.Random(71)
    envelopes = await _running_jobs(worker_store, owner, AT_ONCE)
    outcomes = await asyncio.gather(*(_race(gateway, worker_store, env, rng) for env in envelopes))
    winners = {
        env.job_id: await _assert_one_winner(store, redis, keys, env, pair)
        for env, pair in zip(envelopes, outcomes, strict=True)
    }
    await _owner_stream_agrees(store, owner, winners)
