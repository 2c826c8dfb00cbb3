"""The worker harness end to end: real maintenance worker processes, real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import (
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobRetrying,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.jobs import DiagnosticsResult
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.contracts.topology import HEADER_ERROR_CODE, HEADER_REASON, Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.support.dead_letters import dead_letters_for
from tests.support.jobs import (
    FAST_WORKER_ENV,
    MAINTENANCE,
    history,
    submit_diagnostics,
    wait_for_state,
    wait_until_handler_returned,
)
from tests.support.services import ServiceProcess, running_worker


@pytest.fixture(scope="module")
async def worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_CONCURRENCY="4", **FAST_WORKER_ENV
    ) as service:
        yield service


async def test_a_diagnostics_job_succeeds_with_its_events_in_seq_order(
    worker: ServiceProcess, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    envelope = await submit_diagnostics(
        module_lifecycle, numbers=[1, 2, 3.5], sleep_seconds=0.3, steps=3
    )
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.SUCCEEDED
    assert record.result == DiagnosticsResult(sum=6.5, attempt=1)
    assert record.worker == worker.instance
    events = await history(module_store, envelope.job_id)
    assert (
        [e.seq for e in events]
        == list(range(1, len(events) + 1))
        == [*range(1, record.last_seq + 1)]
    )
    assert isinstance(events[0], JobQueued)
    assert isinstance(events[1], JobStarted)
    assert isinstance(events[-1], JobSucceeded)
    progress = [e for e in events if isinstance(e, JobProgressed)]
    assert progress, "a job that sleeps in steps reports progress"
    assert progress[-1].done == progress[-1].total == 3


async def test_a_job_failing_twice_is_retried_with_growing_delays_then_succeeds(
    worker: ServiceProcess, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    envelope = await submit_diagnostics(module_lifecycle, numbers=[2, 2], fail_attempts=2)
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.SUCCEEDED
    assert record.result == DiagnosticsResult(sum=4, attempt=3)
    events = await history(module_store, envelope.job_id)
    retries = [e for e in events if isinstance(e, JobRetrying)]
    assert [r.next_attempt for r in retries] == [2, 3]
    assert [r.delay_seconds for r in retries] == [0.3, 0.6]
    starts = [e for e in events if isinstance(e, JobStarted)]
    assert [s.attempt for s in starts] == [1, 2, 3]
    for retry, next_start in zip(retries, starts[1:], strict=True):
        waited = (next_start.at - retry.at).total_seconds()
        assert waited >= retry.delay_seconds - 0.05, (waited, retry.delay_seconds)


async def test_a_job_that_always_fails_ends_failed_and_dead_lettered_with_its_reason(
    worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    envelope = await submit_diagnostics(module_lifecycle, fail_attempts=99, max_attempts=2)
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.FAILED
    assert record.error is not None
    assert "failing attempt 2" in record.error.message
    events = await history(module_store, envelope.job_id)
    assert isinstance(events[-1], JobFailed)
    [dead] = await dead_letters_for(module_broker, envelope.job_id)
    assert dead.headers[HEADER_ERROR_CODE] == "handler_error"
    assert "failing attempt 2" in str(dead.headers[HEADER_REASON])
    assert b'"attempt":2' in dead.body


async def test_an_undecodable_message_is_dead_lettered_and_the_worker_keeps_serving(
    worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    await module_broker.publish(
        module_broker.topology.jobs,
        "job.diagnostics",
        b'{"request": {"type": "diagnostics", "numbers": "not a list"}}',
        message_id="garbage-1",
    )
    async with asyncio.timeout(10):
        while not (dead := await dead_letters_for(module_broker, "garbage-1")):
            await asyncio.sleep(0.05)
    assert dead[0].headers[HEADER_ERROR_CODE] == "undecodable_message"
    assert "numbers" in str(dead[0].headers[HEADER_REASON])
    envelope = await submit_diagnostics(module_lifecycle, numbers=[1])
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.SUCCEEDED
    assert worker.process.returncode is None


async def test_cancelling_a_running_job_stops_its_handler(
    worker: ServiceProcess, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    envelope = await submit_diagnostics(module_lifecycle, sleep_seconds=30, steps=300)
    await wait_for_state(
        module_store, envelope.job_id, lambda r: r.progress is not None and r.progress.done >= 2
    )
    cancelled_at = dt.datetime.now(dt.UTC)
    outcome = await module_lifecycle.cancel(
        envelope.job_id, envelope.owner, envelope.job_type, "test"
    )
    assert outcome.ok and outcome.previous_state == JobState.RUNNING
    cancelled_seq = (await module_store.get(envelope.job_id)).last_seq  # type: ignore[union-attr]
    # The handler stops (the worker forgets the job), no progress event follows, and the
    # worker says so in its log.
    await wait_until_handler_returned(
        module_store, worker.instance, envelope.job_id, since=cancelled_at
    )
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state == JobState.CANCELLED
    assert record.last_seq == cancelled_seq
    assert isinstance((await history(module_store, envelope.job_id))[-1], JobCancelled)
    assert "cancelling job (cancelled)" in worker.output()


async def test_a_job_published_straight_to_rabbitmq_gets_a_record(
    worker: ServiceProcess, module_store: JobStore, module_broker: Broker, module_namespace: str
) -> None:
    body = (
        b'{"job_id": "outside-1", "owner": "billing",'
        b' "request": {"type": "diagnostics", "numbers": [40, 2]}}'
    )
    await module_broker.publish(Topology(module_namespace).jobs, "job.diagnostics", body)
    record = await wait_for_state(module_store, "outside-1", FINAL_STATES)
    assert record.state == JobState.SUCCEEDED
    assert record.owner == "billing"
    assert record.result == DiagnosticsResult(sum=42, attempt=1)
    assert [type(e) for e in await history(module_store, "outside-1")] == [
        JobQueued,
        JobStarted,
        JobSucceeded,
    ]
