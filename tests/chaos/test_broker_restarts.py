"""The broker restarting (cleanly or by a crash) or dropping every connection for a moment,
under load: the gateway answers a fast 503 with ``Retry-After`` while the broker cannot take
a job and a 202 otherwise, every accepted job finishes once, and no refused job runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from conveyor.contracts.records import JobRecord, JobState
from tests.support.chaos_cluster import Cluster, chaos_cluster
from tests.support.job_ledger import Audit, Ledger, audit, crash_counts, final_records, runs_in
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


async def _answers(ledger: Ledger, count: int) -> None:
    async with asyncio.timeout(60):
        while len(ledger.answers) < count:
            await asyncio.sleep(0.05)


async def _verdict(cluster: Cluster, ledger: Ledger) -> tuple[Audit, dict[str, tuple[int, bool]]]:
    records = await final_records(cluster.store, ledger.accepted, timeout=90)
    counts = await crash_counts(cluster.store, ledger.accepted)
    runs = runs_in(cluster.logs())
    return audit(ledger, records, runs, counts=counts, killed=cluster.killed), counts


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "crash"])
async def test_a_broker_restart_under_load_loses_no_accepted_job(
    cluster: Cluster, crash: bool
) -> None:
    for _ in range(2):
        await cluster.start_worker()
    ledger = await cluster.start_gateway()
    load = asyncio.create_task(
        ledger.submit_many(200, concurrency=4, pause=0.05, sleep_seconds=0.3, steps=3)
    )
    await _answers(ledger, 40)
    await cluster.rabbit.restart(crash=crash)
    await load

    verdict, counts = await _verdict(cluster, ledger)
    assert not verdict.problems(), verdict.problems()
    assert verdict.succeeded == verdict.accepted >= 200
    # The gateway answered during the outage (with 503s), and no worker died.
    assert verdict.refused > 0
    assert all(crashes == 0 for crashes, _ in counts.values())


async def test_broker_blips_under_long_jobs_neither_repeat_nor_crash_them(
    cluster: Cluster,
) -> None:
    for _ in range(2):
        await cluster.start_worker(CONVEYOR_CONCURRENCY="8")
    ledger = await cluster.start_gateway()
    # Six jobs: either worker alone can run them all at once (an owner may use seven slots).
    await ledger.submit_many(6, concurrency=2, sleep_seconds=20, steps=40)
    jobs = list(ledger.accepted)
    async with asyncio.timeout(30):
        while not await _all_running(cluster, jobs):
            await asyncio.sleep(0.1)
    connections = await _connections(cluster.rabbit)
    for _ in range(3):
        await cluster.rabbit.ctl("close_all_connections", "chaos test: a broker blip")
        async with asyncio.timeout(30):  # every client reconnected (new connections only)
            while True:
                now = await _connections(cluster.rabbit)
                if len(now) >= len(connections) and not now & connections:
                    break
                await asyncio.sleep(0.2)
        connections = now
    assert await _all_running(cluster, jobs), "the blips came after the jobs: make them longer"

    verdict, counts = await _verdict(cluster, ledger)
    assert not verdict.problems(), verdict.problems()
    assert verdict.succeeded == verdict.accepted == len(jobs)
    assert all(crashes == 0 for crashes, _ in counts.values())
    runs = runs_in(cluster.logs())
    assert sorted(run.job_id for run in runs) == sorted(jobs)  # each ran exactly once
    records = await _records(cluster, jobs)
    assert all(r is not None and r.attempt == 1 for r in records)


async def _records(cluster: Cluster, jobs: list[str]) -> list[JobRecord | None]:
    return list(await asyncio.gather(*map(cluster.store.get, jobs)))


async def _all_running(cluster: Cluster, jobs: list[str]) -> bool:
    return all(r is not None and r.state == JobState.RUNNING for r in await _records(cluster, jobs))


async def _connections(rabbit: PrivateRabbit) -> set[str]:
    """The node's client connections (their Erlang pids: a reconnection gets a new one)."""
    return set((await rabbit.ctl("list_connections", "--no-table-headers", "pid")).split())
