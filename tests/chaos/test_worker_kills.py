"""Workers SIGKILLed under load: every accepted job finishes, none is lost, and a job runs a
second time only when the worker of its first run died before recording it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.chaos_cluster import Cluster, chaos_cluster
from tests.support.job_ledger import audit, crash_counts, final_records, runs_in
from tests.support.private_rabbit import PrivateRabbit, private_rabbit
from tests.support.private_redis import private_redis


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


async def _results_of(cluster: Cluster, instance: str, at_least: int) -> None:
    """Wait until the worker ``instance`` has produced ``at_least`` results (it is busy)."""
    [worker] = [w for w in cluster.processes if w.instance == instance]
    async with asyncio.timeout(60):
        while len(runs_in([worker.output()])) < at_least:
            await asyncio.sleep(0.1)


async def test_jobs_survive_workers_killed_under_load(cluster: Cluster) -> None:
    for _ in range(3):
        await cluster.start_worker(CONVEYOR_MAX_CRASHES="10")
    ledger = await cluster.start_gateway()
    killed = asyncio.Event()  # the load goes on until the last kill, however long that takes
    load = asyncio.create_task(
        ledger.submit_many(300, concurrency=4, pause=0.2, until=killed, sleep_seconds=0.5, steps=2)
    )
    for _ in range(4):
        victim = cluster.workers()[0]  # the oldest: it has taken jobs for the longest
        await _results_of(cluster, victim.instance, at_least=5)
        cluster.kill(victim)
        await cluster.start_worker(CONVEYOR_MAX_CRASHES="10")
    killed.set()
    await load

    accepted = ledger.accepted
    records = await final_records(cluster.store, accepted, timeout=120)
    counts = await crash_counts(cluster.store, accepted)
    verdict = audit(ledger, records, runs_in(cluster.logs()), counts=counts, killed=cluster.killed)
    assert not verdict.problems(), verdict.problems()
    assert verdict.accepted >= 300
    assert verdict.succeeded == verdict.accepted
    # The kills landed on running jobs: some were redelivered as crashes, and ran again.
    assert sum(crashes for crashes, _ in counts.values()) > 0
