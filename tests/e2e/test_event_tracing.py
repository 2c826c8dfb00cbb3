"""Job events carry the trace context of the job they belong to, not another job's."""

from __future__ import annotations

import asyncio

import aio_pika
from redis.asyncio import Redis

from conveyor.contracts.events import AnyJobEvent
from conveyor.contracts.folded_events import job_events_of
from conveyor.contracts.records import JobState
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.telemetry import setup_tracing, tracer
from tests.support.jobs import submit_diagnostics, wait_for_state
from tests.support.services import running_worker


def _tag(event: AnyJobEvent) -> str:
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


async def test_each_jobs_events_carry_that_jobs_trace_id(
    module_namespace: str,
    redis: Redis,
    module_broker: Broker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    setup_tracing("tests", "tests")
    traces_by_job: dict[str, set[str]] = {}
    kinds_by_job: dict[str, set[str]] = {}

    async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # A folded message (the worker's started and succeeded) carries its events inside.
        for event in job_events_of(message.body):
            trace_id = str(message.headers["traceparent"]).split("-")[1]
            traces_by_job.setdefault(event.job_id, set()).add(trace_id)
            kinds_by_job.setdefault(event.job_id, set()).add(_tag(event))

    channel = await module_broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(module_broker.topology.events, "job.#")
    await queue.consume(on_event, no_ack=True)
    expected: dict[str, str] = {}
    async with running_worker("conveyor.maintenance", module_namespace, redis):
        for _ in range(3):
            with tracer.start_as_current_span("test submit") as span:
                envelope = await submit_diagnostics(module_lifecycle, numbers=[1])
            expected[envelope.job_id] = format(span.get_span_context().trace_id, "032x")
        for job_id in expected:
            await wait_for_state(module_store, job_id, {JobState.SUCCEEDED})
        # Every event is here once each job's first (the submitter's) and last (the
        # worker's, which publishes its events in order) have arrived.
        async with asyncio.timeout(10):
            while not all(
                {"job.queued", "job.succeeded"} <= kinds_by_job.get(job_id, set())
                for job_id in expected
            ):
                await asyncio.sleep(0.02)
    await channel.close()
    assert traces_by_job == {job_id: {trace} for job_id, trace in expected.items()}
