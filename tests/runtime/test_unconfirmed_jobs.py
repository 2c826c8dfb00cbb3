"""A submit whose publish RabbitMQ took but never confirmed: kept, published again, run once.

The confirm is lost by a proxy in front of the shared broker (``tests.support.amqp_proxy``):
the broker queues the first publish, the publisher never hears of it. Answering "not taken"
would let a client that retries get the job twice; the lifecycle keeps the job instead and
publishes it again, and the worker runs the two copies once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker, BrokerUnavailableError, PublishUnconfirmedError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.unconfirmed_jobs import UnconfirmedJobs
from conveyor.runtime.worker import Handler, HandlerTable, JobContext
from conveyor.runtime.worker.harness import Worker
from tests.support.amqp_proxy import AmqpProxy, amqp_proxy
from tests.support.jobs import wait_for_state
from tests.support.private_redis import spare_port

SERVICE = "maintenance"  # the service whose queue diagnostics jobs go to


class Counting:
    def __init__(self) -> None:
        self.runs: list[str] = []

    async def __call__(self, request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        self.runs.append(job.job_id)
        return DiagnosticsResult(sum=sum(request.numbers), attempt=job.attempt)


@pytest.fixture
async def proxy() -> AsyncIterator[AmqpProxy]:
    async with amqp_proxy() as p:
        yield p


@pytest.fixture
async def flaky_broker(
    proxy: AmqpProxy, module_namespace: str, module_broker: Broker
) -> AsyncIterator[Broker]:
    """A publisher whose connection goes through the proxy; confirms time out after 1 s."""
    await module_broker.declare_topology()
    broker = Broker(
        proxy.url(), Topology(module_namespace), publish_timeout=1.0, connection_name="flaky"
    )
    await broker.connect()
    yield broker
    await broker.close()


def _unconfirmed(redis: Redis, namespace: str, broker: Broker, store: JobStore) -> UnconfirmedJobs:
    return UnconfirmedJobs(
        redis, Keys(namespace), broker, store, retention_seconds=3600, lease_seconds=3.0
    )


def _envelope(marker: int) -> JobEnvelope:
    return JobEnvelope(request=DiagnosticsRequest(numbers=[marker]), owner="unconfirmed-user")


async def _ready(broker: Broker, namespace: str) -> int:
    channel = await broker.open_channel()
    try:
        queue = await channel.declare_queue(
            Topology(namespace).service_queue(SERVICE), passive=True
        )
        return int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_a_publish_without_confirm_is_kept_published_again_and_run_once(
    proxy: AmqpProxy,
    flaky_broker: Broker,
    module_broker: Broker,
    module_namespace: str,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    redis: Redis,
) -> None:
    unconfirmed = _unconfirmed(redis, module_namespace, flaky_broker, module_store)
    lifecycle = JobLifecycle(module_store, flaky_broker, unconfirmed)
    envelope = _envelope(41)
    before = await _ready(module_broker, module_namespace)

    proxy.stall()  # the broker takes the publish; its confirm is lost
    assert await lifecycle.submit_or_existing(envelope) is None  # taken, not refused
    assert await unconfirmed.count() == 1
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state is JobState.QUEUED

    async def first_copy_queued() -> bool:
        return await _ready(module_broker, module_namespace) == before + 1

    await _until(first_copy_queued)  # a client told "503" would now get a second job

    proxy.cut()
    proxy.heal()

    async def published_again() -> bool:
        try:
            await unconfirmed.publish_due()
        except BrokerUnavailableError:
            return False  # still reconnecting
        return await unconfirmed.count() == 0

    await _until(published_again, timeout=30)
    assert await _ready(module_broker, module_namespace) == before + 2  # two copies

    counting = Counting()
    table = HandlerTable()
    table.add(Handler("diagnostics", counting))
    worker = Worker(
        service=SERVICE,
        settings=WorkerSettings(namespace=module_namespace),
        broker=module_broker,
        store=module_store,
        lifecycle=module_lifecycle,
        handlers=table,
        metrics=Metrics(),
    )
    await worker.start()
    try:
        await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED}, timeout=30)

        async def both_copies_taken() -> bool:
            return await _ready(module_broker, module_namespace) == 0

        await _until(both_copies_taken)
    finally:
        await worker.drain(grace=5)
    assert counting.runs.count(envelope.job_id) == 1
    final = await module_store.get(envelope.job_id)
    assert final is not None and final.state is JobState.SUCCEEDED and final.attempt == 1


async def test_a_kept_job_a_worker_took_is_not_published_again(
    flaky_broker: Broker,
    module_broker: Broker,
    module_namespace: str,
    module_store: JobStore,
    redis: Redis,
) -> None:
    unconfirmed = _unconfirmed(redis, module_namespace, flaky_broker, module_store)
    envelope = _envelope(42)
    queued = JobQueued(
        job_id=envelope.job_id, job_type=envelope.job_type, owner=envelope.owner, attempt=1
    )
    await module_store.create_or_get(envelope, queued, trace_id=None)
    started = JobStarted(
        job_id=envelope.job_id,
        job_type=envelope.job_type,
        owner=envelope.owner,
        attempt=1,
        worker="elsewhere",
    )
    moved = await module_store.transition(
        envelope.job_id,
        envelope.owner,
        allowed=[JobState.QUEUED],
        to=JobState.RUNNING,
        event=started,
    )
    assert moved.ok
    before = await _ready(module_broker, module_namespace)
    await unconfirmed.hold(envelope, envelope.priority.amqp_priority, {})

    assert await unconfirmed.publish_due() == 1
    assert await unconfirmed.count() == 0
    assert await _ready(module_broker, module_namespace) == before  # nothing published


async def test_a_publish_without_confirm_that_redis_cannot_keep_is_raised(
    proxy: AmqpProxy, flaky_broker: Broker, module_namespace: str, module_store: JobStore
) -> None:
    dead_redis = open_redis(f"redis://127.0.0.1:{spare_port()}/0")
    try:
        unconfirmed = _unconfirmed(dead_redis, module_namespace, flaky_broker, module_store)
        lifecycle = JobLifecycle(module_store, flaky_broker, unconfirmed)
        proxy.stall()
        with pytest.raises(PublishUnconfirmedError):
            await lifecycle.submit_or_existing(_envelope(43))
    finally:
        await dead_redis.aclose()


async def test_a_publish_refused_before_it_went_out_is_not_unconfirmed(
    module_namespace: str,
) -> None:
    broker = Broker("amqp://guest:guest@127.0.0.1:1/", Topology(module_namespace))
    with pytest.raises(BrokerUnavailableError) as raised:
        await broker.publish(Topology(module_namespace).jobs, "job.diagnostics", b"{}")
    assert not isinstance(raised.value, PublishUnconfirmedError)
