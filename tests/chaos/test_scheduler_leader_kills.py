"""Scheduler leaders SIGKILLed again and again, at different moments around their fire times:
every fire time gets its job, once, and each job runs once (unless its worker died)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.maintenance.firing import firing_job_id
from conveyor.runtime.broker import Broker
from conveyor.runtime.schedule_store import ScheduleStore
from tests.maintenance.support import FAST_SCHEDULER_ENV, every_second, tap_jobs
from tests.support.chaos_cluster import Cluster, chaos_cluster
from tests.support.job_ledger import crash_counts, final_records, runs_in
from tests.support.private_rabbit import PrivateRabbit, private_rabbit
from tests.support.private_redis import private_redis

SECOND = dt.timedelta(seconds=1)
KILL_OFFSETS = (0.0, 0.3, 0.6, 0.9)
"""Seconds after a fire time's job is seen: right after firing, and on towards the next."""


@pytest.fixture(scope="module")
async def rabbit() -> AsyncIterator[PrivateRabbit]:
    async with private_rabbit() as node:
        yield node


@pytest.fixture
async def cluster(module_namespace: str, rabbit: PrivateRabbit) -> AsyncIterator[Cluster]:
    async with (
        private_redis() as redis_server,
        chaos_cluster(module_namespace, rabbit, redis_server) as cluster,
    ):
        yield cluster


async def _leader(cluster: Cluster) -> str:
    async with asyncio.timeout(20):
        while (raw := await cluster.redis.get(Keys(cluster.namespace).scheduler_leader)) is None:
            await asyncio.sleep(0.05)
    instance: str = raw.decode().rsplit(" ", 1)[0]
    return instance


async def test_every_fire_time_runs_once_across_repeated_leader_kills(
    cluster: Cluster, tmp_path: Path
) -> None:
    keys = Keys(cluster.namespace)
    await ScheduleStore(cluster.redis, keys).put(every_second("tick"))
    env = {**FAST_SCHEDULER_ENV, "CONVEYOR_DATA_DIR": str(tmp_path), "CONVEYOR_LOG_FORMAT": "json"}
    broker = Broker(cluster.rabbit.url, Topology(cluster.namespace), connection_name="tap")
    await broker.connect()
    try:
        async with tap_jobs(broker) as tap:
            await asyncio.gather(*(cluster.start_worker(**env) for _ in range(3)))
            await tap.wait_for(2, "tick")
            for offset in KILL_OFFSETS:
                seen = len(tap.fire_times("tick"))
                await tap.wait_for(seen + 1, "tick")  # a fire time just went out
                await asyncio.sleep(offset)
                leader = await _leader(cluster)
                [victim] = [p for p in cluster.workers() if p.instance == leader]
                cluster.kill(victim)
                await cluster.start_worker(**env)  # the pool stays at three
            seen = len(tap.fire_times("tick"))
            await tap.wait_for(seen + 3, "tick", timeout=30)  # the last successor fires on
            fire_times = tap.fire_times("tick")
    finally:
        await broker.close()

    distinct = sorted(set(fire_times))
    # No fire time skipped: each successor caught up what nobody fired meanwhile. (A firing
    # whose leader died between claiming and queueing is queued again, under the same job id.)
    assert all(b - a == SECOND for a, b in itertools.pairwise(distinct)), distinct
    assert len(distinct) >= 10
    jobs = [firing_job_id("tick", t) for t in distinct]
    records = await final_records(cluster.store, jobs, timeout=60)
    assert all(r is not None and r.state.value == "succeeded" for r in records.values()), records
    runs = collections.Counter(run.job_id for run in runs_in(cluster.logs()) if run.job_id in jobs)
    counts = await crash_counts(cluster.store, jobs)
    # Each job ran once; twice only if the worker of its first run was killed (a crash).
    doubled = [job for job, n in runs.items() if n > 1 + counts[job][0]]
    assert not doubled, doubled
    assert set(runs) == set(jobs)
