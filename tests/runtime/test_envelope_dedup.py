"""Envelopes published straight to RabbitMQ (not through the gateway): an idempotency key runs
its job once, and an envelope that takes another job's id is dead-lettered, never run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from conveyor.contracts.codecs import encode
from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import HEADER_ERROR_CODE, job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.worker import Handler, HandlerTable, JobContext
from conveyor.runtime.worker.harness import Worker
from tests.support.dead_letters import dead_letters_for
from tests.support.jobs import wait_for_state


class Counting:
    def __init__(self) -> None:
        self.requests: list[DiagnosticsRequest] = []

    async def __call__(self, request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        self.requests.append(request)
        return DiagnosticsResult(sum=sum(request.numbers), attempt=job.attempt)


@pytest.fixture
async def handler(
    module_namespace: str,
    module_broker: Broker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> AsyncIterator[Counting]:
    counting = Counting()
    table = HandlerTable()
    table.add(Handler("diagnostics", counting))
    worker = Worker(
        service="maintenance",
        settings=WorkerSettings(namespace=module_namespace),
        broker=module_broker,
        store=module_store,
        lifecycle=module_lifecycle,
        handlers=table,
        metrics=Metrics(),
    )
    await worker.start()
    yield counting
    await worker.drain(grace=1)


async def _publish(broker: Broker, envelope: JobEnvelope) -> None:
    await broker.publish(
        broker.topology.jobs,
        job_routing_key(envelope.job_type),
        encode(envelope),
        message_id=envelope.job_id,
    )


async def test_two_envelopes_with_one_idempotency_key_run_once(
    handler: Counting, module_broker: Broker, module_store: JobStore
) -> None:
    first, second = (
        JobEnvelope(request=DiagnosticsRequest(numbers=[n]), owner="amqp", idempotency_key="k-1")
        for n in (1, 2)
    )
    await _publish(module_broker, first)
    await wait_for_state(module_store, first.job_id, {JobState.SUCCEEDED})
    await _publish(module_broker, second)
    # A third, ordinary envelope behind the duplicate: once it ran, the duplicate was handled.
    marker = JobEnvelope(request=DiagnosticsRequest(numbers=[3]), owner="amqp")
    await _publish(module_broker, marker)
    await wait_for_state(module_store, marker.job_id, {JobState.SUCCEEDED})
    assert [r.numbers for r in handler.requests] == [[1], [3]]
    assert await module_store.get(second.job_id) is None


async def test_an_envelope_reusing_a_finished_jobs_id_is_dead_lettered_not_run(
    handler: Counting, module_broker: Broker, module_store: JobStore
) -> None:
    original = JobEnvelope(request=DiagnosticsRequest(numbers=[5]), owner="amqp")
    await _publish(module_broker, original)
    await wait_for_state(module_store, original.job_id, {JobState.SUCCEEDED})
    # Same id, another request (and creation time): a publisher's mistake, not a redelivery.
    impostor = msgspec.structs.replace(
        original,
        request=DiagnosticsRequest(numbers=[6]),
        created_at=original.created_at.replace(year=2030),
    )
    await _publish(module_broker, impostor)
    async with asyncio.timeout(20):
        while not (letters := await dead_letters_for(module_broker, original.job_id)):
            await asyncio.sleep(0.1)
    assert letters[0].headers[HEADER_ERROR_CODE] == ErrorCode.JOB_ID_IN_USE.value
    assert [r.numbers for r in handler.requests] == [[5]]
    record = await module_store.get(original.job_id)
    assert record is not None and record.state is JobState.SUCCEEDED
