"""Rule 3 of fault survival: only a worker that really died counts as a crash, and a job never
runs twice at once. A dropped connection makes RabbitMQ redeliver the jobs in flight, to the
same worker once it reconnects or to another one, while their first run goes on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from conveyor.contracts.codecs import encode
from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology, job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.worker import Handler, HandlerTable, JobContext
from conveyor.runtime.worker.harness import Worker
from conveyor.runtime.worker.signals import RejectJob
from tests.support.dead_letters import dead_letters_for
from tests.support.jobs import wait_for_state
from tests.support.namespace import AMQP_URL
from tests.support.rabbit import close_rabbit_connection


class SlowJobs:
    """A diagnostics handler that counts its runs and finishes when released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def __call__(self, request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        self.runs += 1
        async with asyncio.timeout(60):
            await self.release.wait()
        return DiagnosticsResult(sum=sum(request.numbers), attempt=job.attempt)


StartWorker = Callable[[SlowJobs], Awaitable[tuple[Worker, str]]]


@pytest.fixture
async def start_worker(module_namespace: str, module_store: JobStore) -> AsyncIterator[StartWorker]:
    """In-process workers, each on a connection of its own (named, so a test can drop it)."""
    started: list[tuple[Worker, Broker]] = []

    async def start(handler: SlowJobs) -> tuple[Worker, str]:
        name = f"blip-{uuid.uuid4().hex[:8]}"
        broker = Broker(AMQP_URL, Topology(module_namespace), connection_name=name)
        await broker.connect()
        table = HandlerTable()
        table.add(Handler("diagnostics", handler))
        worker = Worker(
            service="maintenance",
            settings=WorkerSettings(
                namespace=module_namespace, instance=name, heartbeat_interval=0.5
            ),
            broker=broker,
            store=module_store,
            lifecycle=JobLifecycle(module_store, broker),
            handlers=table,
            metrics=Metrics(),
        )
        await worker.start()
        started.append((worker, broker))
        return worker, name

    yield start
    for worker, broker in started:
        await worker.drain(grace=1)
        await broker.close()


async def _crashes(store: JobStore, job_id: str) -> int:
    return int(await store.redis.hget(store.keys.job(job_id), "crashes") or 0)  # type: ignore[misc]


async def _queue_empties(broker: Broker, queue_name: str) -> None:
    channel = await broker.open_channel()
    try:
        async with asyncio.timeout(20):
            while True:
                queue = await channel.declare_queue(queue_name, passive=True)
                if queue.declaration_result.message_count == 0:
                    return
                await asyncio.sleep(0.1)
    finally:
        await channel.close()


async def _redelivered(worker: Worker, job_id: str, *, times: int) -> None:
    async with asyncio.timeout(20):
        while len(worker._running[job_id].redeliveries) < times:
            await asyncio.sleep(0.05)


async def _observe(handler: SlowJobs, seconds: float) -> None:
    """Give a wrong second run time to start (it would within a few tenths of a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while handler.runs < 2 and loop.time() < deadline:
        await asyncio.sleep(0.05)


async def test_a_redelivery_to_the_same_worker_settles_with_the_run_in_progress(
    start_worker: StartWorker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    handler = SlowJobs()
    worker, connection = await start_worker(handler)
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[2]), owner="blips")
    await module_lifecycle.submit(envelope)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    for blip in range(1, 4):  # three blips, as in three short broker restarts
        await asyncio.to_thread(close_rabbit_connection, connection)
        # Back on the worker once it reconnected: held beside the run, not run again.
        await _redelivered(worker, envelope.job_id, times=blip)
        assert handler.runs == 1
    assert handler.runs == 1
    handler.release.set()
    record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    assert record.attempt == 1
    assert await _crashes(module_store, envelope.job_id) == 0
    await _queue_empties(module_broker, worker.queue_name)


async def test_a_redelivery_to_another_worker_waits_while_the_first_lives(
    start_worker: StartWorker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    first, second = SlowJobs(), SlowJobs()
    worker, connection = await start_worker(first)
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[3]), owner="blips")
    await module_lifecycle.submit(envelope)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    await start_worker(second)  # consumes now, so the redelivery may well go to it
    await asyncio.to_thread(close_rabbit_connection, connection)
    await _observe(second, 3.0)
    assert first.runs + second.runs == 1
    first.release.set()
    second.release.set()
    record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    assert record.attempt == 1
    assert await _crashes(module_store, envelope.job_id) == 0
    await _queue_empties(module_broker, worker.queue_name)


async def test_a_failed_job_whose_dead_letter_was_lost_gets_it_on_redelivery(
    start_worker: StartWorker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    runs = 0

    async def doomed(request: DiagnosticsRequest, *, job: JobContext) -> None:
        nonlocal runs
        runs += 1
        raise RejectJob("never works")

    # A full dead-letter queue that rejects publishes: the dead letter is refused (nacked).
    policy = f"reject-{uuid.uuid4().hex[:8]}"
    queue = module_broker.topology.dead_letter_queue
    limits = '{"max-length": 0, "overflow": "reject-publish"}'
    await _rabbitmqctl("set_policy", "--apply-to", "queues", policy, f"^{queue}$", limits)
    try:
        await start_worker(doomed)  # type: ignore[arg-type]
        envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[4]), owner="blips")
        await module_lifecycle.submit(envelope)
        record = await wait_for_state(module_store, envelope.job_id, {JobState.FAILED})
        assert record.error is not None and record.error.code == ErrorCode.REJECTED
    finally:
        await _rabbitmqctl("clear_policy", policy)
    # The failed job's message went back to the queue: its redelivery publishes the letter.
    async with asyncio.timeout(20):
        while not (letters := await dead_letters_for(module_broker, envelope.job_id)):
            await asyncio.sleep(0.2)
    assert len(letters) == 1
    assert runs == 1


async def _rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def test_two_copies_of_a_job_message_delivered_together_run_it_once(
    start_worker: StartWorker,
    module_store: JobStore,
    module_broker: Broker,
) -> None:
    handler = SlowJobs()
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[5]), owner="copies")
    # What a broker crash can leave behind: a message and its set-aside copy (the original's
    # ack lost with the crash). Both wait in the queue, so they arrive together.
    for _ in range(2):
        await module_broker.publish(
            module_broker.topology.jobs,
            job_routing_key(envelope.job_type),
            encode(envelope),
            message_id=envelope.job_id,
        )
    worker, _ = await start_worker(handler)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    await _redelivered(worker, envelope.job_id, times=1)  # the copy joined the run
    assert handler.runs == 1
    handler.release.set()
    record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    assert record.attempt == 1
    assert await _crashes(module_store, envelope.job_id) == 0
    assert handler.runs == 1
    await _queue_empties(module_broker, worker.queue_name)
