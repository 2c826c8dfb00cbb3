"""Redis going away under a running job, and coming back with or without its data.

The worker runs in-process on a private Redis (the shared one is never stopped)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.store_epoch import StoreEpoch
from conveyor.runtime.worker import Handler, HandlerTable, JobContext
from conveyor.runtime.worker.harness import Worker
from tests.support.jobs import wait_for_state
from tests.support.private_redis import PrivateRedis, private_redis


@pytest.fixture
async def durable_redis() -> AsyncIterator[PrivateRedis]:
    async with private_redis(persistent=True) as server:
        yield server


class HeldJob:
    """A diagnostics handler that counts its runs and finishes when released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def __call__(self, request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        self.runs += 1
        await self.release.wait()
        return DiagnosticsResult(sum=sum(request.numbers), attempt=job.attempt)


@contextlib.asynccontextmanager
async def worker_on(
    server: PrivateRedis, namespace: str, broker: Broker, handler: HeldJob
) -> AsyncIterator[tuple[JobStore, JobLifecycle]]:
    """An in-process worker whose job store is on ``server``; its store and lifecycle."""
    redis = server.client()
    store = JobStore(redis, Keys(namespace), retention_seconds=3600)
    lifecycle = JobLifecycle(store, broker)
    table = HandlerTable()
    table.add(Handler("diagnostics", handler))
    worker = Worker(
        service="maintenance",
        settings=WorkerSettings(namespace=namespace, heartbeat_interval=0.5),
        broker=broker,
        store=store,
        lifecycle=lifecycle,
        handlers=table,
        metrics=Metrics(),
    )
    await worker.start()
    try:
        yield store, lifecycle
    finally:
        await worker.drain(grace=1)
        await redis.aclose()


async def test_a_job_that_finishes_during_a_redis_outage_is_recorded_once_redis_is_back(
    module_namespace: str, module_broker: Broker, durable_redis: PrivateRedis
) -> None:
    held = HeldJob()
    async with worker_on(durable_redis, module_namespace, module_broker, held) as (
        store,
        lifecycle,
    ):
        envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[7]), owner="outage")
        await lifecycle.submit(envelope)
        await wait_for_state(store, envelope.job_id, {JobState.RUNNING})
        await durable_redis.kill()
        held.release.set()  # the handler finishes while its outcome cannot be recorded
        await asyncio.sleep(1.5)  # a few failed tries at recording it
        await durable_redis.start()
        checker = JobStore(durable_redis.client(), store.keys, retention_seconds=3600)
        record = await wait_for_state(checker, envelope.job_id, {JobState.SUCCEEDED}, timeout=30)
        assert record.attempt == 1
        assert held.runs == 1
        crashes = await checker.redis.hget(store.keys.job(envelope.job_id), "crashes")  # type: ignore[misc]
        assert int(crashes or 0) == 0
        await checker.redis.aclose()


async def test_a_restart_without_persistence_is_noticed_once_by_each_watcher(
    module_namespace: str,
) -> None:
    async with private_redis() as server:
        keys = Keys(module_namespace)
        first, second = server.client(), server.client()
        gateway, scheduler = StoreEpoch(first, keys), StoreEpoch(second, keys)
        try:
            assert not await gateway.check()
            assert not await scheduler.check()
            assert not await gateway.check()
            await server.restart()  # nothing kept on disk
            assert await scheduler.check()  # it writes a new marker...
            assert await gateway.check()  # ...which the other sees as replaced
            assert not await gateway.check()
            assert not await scheduler.check()
            assert gateway.lost_at is not None
        finally:
            await first.aclose()
            await second.aclose()


async def test_a_job_running_when_redis_loses_its_data_is_recorded_again_with_its_outcome(
    module_namespace: str, module_broker: Broker
) -> None:
    held = HeldJob()
    async with (
        private_redis() as server,  # no persistence: a restart empties it
        worker_on(server, module_namespace, module_broker, held) as (store, lifecycle),
    ):
        envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[8]), owner="data-loss")
        await lifecycle.submit(envelope)
        await wait_for_state(store, envelope.job_id, {JobState.RUNNING})
        await server.restart()
        assert await store.get(envelope.job_id) is None  # the record went with the data
        held.release.set()
        record = await wait_for_state(store, envelope.job_id, {JobState.SUCCEEDED}, timeout=30)
        assert record.attempt == 1
        assert record.result == DiagnosticsResult(sum=8, attempt=1)
        assert held.runs == 1
