"""Redis killed under load and started again, with its append-only file and without one.

With persistence nothing is lost. Without it the records of jobs finished before the crash go
(RELIABILITY.md says so, and the gateway's health says when); every job queued or running at
the crash still finishes, once, and is recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.chaos_cluster import Cluster, chaos_cluster
from tests.support.job_ledger import Ledger, audit, crash_counts, final_records, runs_in
from tests.support.private_rabbit import PrivateRabbit, private_rabbit
from tests.support.private_redis import private_redis


@pytest.fixture(scope="module")
async def rabbit() -> AsyncIterator[PrivateRabbit]:
    async with private_rabbit() as node:
        yield node


async def _answers(ledger: Ledger, count: int) -> None:
    async with asyncio.timeout(60):
        while len(ledger.answers) < count:
            await asyncio.sleep(0.05)


async def _health(ledger: Ledger) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{ledger.url}/api/v1/health") as response,
    ):
        report: dict[str, object] = await response.json()
        return report


async def _crash_redis_under_load(cluster: Cluster) -> tuple[Ledger, dt.datetime]:
    """Load, a Redis crash while the gateway keeps answering, a restart; when it crashed."""
    for _ in range(2):
        await cluster.start_worker()
    ledger = await cluster.start_gateway()
    load = asyncio.create_task(
        ledger.submit_many(200, concurrency=4, pause=0.05, sleep_seconds=0.3, steps=3)
    )
    await _answers(ledger, 60)
    crashed_at = dt.datetime.now(dt.UTC)
    await cluster.redis_server.kill()
    await _answers(ledger, len(ledger.answers) + 8)  # the gateway answers during the outage
    await cluster.redis_server.start()
    await load
    return ledger, crashed_at


async def test_a_redis_crash_with_persistence_loses_nothing(
    module_namespace: str, rabbit: PrivateRabbit
) -> None:
    async with (
        private_redis(persistent=True) as redis_server,
        chaos_cluster(module_namespace, rabbit, redis_server) as cluster,
    ):
        ledger, _ = await _crash_redis_under_load(cluster)
        records = await final_records(cluster.store, ledger.accepted, timeout=90)
        counts = await crash_counts(cluster.store, ledger.accepted)
        verdict = audit(ledger, records, runs_in(cluster.logs()), counts=counts, killed=set())
        assert not verdict.problems(), verdict.problems()
        assert verdict.succeeded == verdict.accepted >= 200
        assert verdict.refused > 0  # 503s while Redis was down (nothing was published)
        assert "redis_data_lost_at" not in await _health(ledger)  # no loss seen


async def test_a_redis_crash_without_persistence_loses_only_finished_jobs_records(
    module_namespace: str, rabbit: PrivateRabbit
) -> None:
    async with (
        private_redis(persistent=False) as redis_server,
        chaos_cluster(module_namespace, rabbit, redis_server) as cluster,
    ):
        ledger, crashed_at = await _crash_redis_under_load(cluster)
        finished_before = {run.job_id for run in runs_in(cluster.logs()) if run.at < crashed_at}
        # The jobs that had not run by the crash must all finish; the others are read once.
        after = [job_id for job_id in ledger.accepted if job_id not in finished_before]
        records = await final_records(cluster.store, after, timeout=90)
        records |= await final_records(cluster.store, finished_before, timeout=1)
        counts = await crash_counts(cluster.store, ledger.accepted)
        verdict = audit(ledger, records, runs_in(cluster.logs()), counts=counts, killed=set())
        # Only the records of jobs that had finished before the crash are gone.
        assert set(verdict.lost) <= finished_before, set(verdict.lost) - finished_before
        assert verdict.lost, "no record was lost: the crash came before any job finished"
        problems = verdict.problems()
        problems.pop("lost", None)
        assert not problems, problems
        assert verdict.succeeded == verdict.accepted - len(verdict.lost)
        assert (await _health(ledger)).get("redis_data_lost_at") is not None
