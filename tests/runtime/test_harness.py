"""The worker harness in-process, with handlers the diagnostics job cannot play (real broker)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

from conveyor.contracts.codecs import job_event_decoder
from conveyor.contracts.events import JobProgressed
from conveyor.contracts.heartbeats import WorkerHeartbeat
from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult, JobEnvelope
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.worker import Handler, HandlerTable, JobContext
from conveyor.runtime.worker.harness import Worker
from tests.support.jobs import wait_for_state

HandlerFunc = Callable[..., Awaitable[Any]]


@pytest.fixture
async def run_worker(
    module_namespace: str,
    module_broker: Broker,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """Starts in-process workers whose diagnostics handler is ``func``; drains them after."""
    workers: list[Worker] = []

    async def start(func: HandlerFunc, **settings: Any) -> Worker:
        table = HandlerTable()
        table.add(Handler("diagnostics", func))
        worker = Worker(
            service="maintenance",
            settings=WorkerSettings(namespace=module_namespace, **settings),
            broker=module_broker,
            store=module_store,
            lifecycle=module_lifecycle,
            handlers=table,
            metrics=Metrics(),
        )
        await worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.drain(grace=1)


async def submit(lifecycle: JobLifecycle) -> JobEnvelope:
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[1]), owner="harness-tests")
    await lifecycle.submit(envelope)
    return envelope


async def test_a_handler_that_ignores_cancellation_is_failed_at_the_hard_time_limit(
    run_worker: Callable[..., Awaitable[Worker]],
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    release = asyncio.Event()

    async def stubborn(request: DiagnosticsRequest, *, job: JobContext) -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # swallows every cancellation, like a handler stuck in C code

    worker = await run_worker(stubborn, soft_time_limit=0.3, hard_time_limit=0.8)
    envelope = await submit(module_lifecycle)
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    release.set()
    assert record.state == JobState.FAILED
    assert record.error is not None
    assert record.error.code == "time_limit_exceeded"
    assert "hard time limit of 0.8 s" in record.error.message
    assert record.started_at is not None
    assert record.finished_at is not None
    elapsed = (record.finished_at - record.started_at).total_seconds()
    assert 0.8 <= elapsed < 2.0
    # The record turns final before the worker has dead-lettered and acked the message.
    async with asyncio.timeout(5):
        while worker.running_jobs:
            await asyncio.sleep(0.02)


async def test_progress_reported_thousands_of_times_becomes_a_few_events_ending_at_the_last(
    run_worker: Callable[..., Awaitable[Worker]],
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async def chatty(request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        for done in range(1, 2001):
            job.report_progress(done, 2000)
            if done % 100 == 0:
                await asyncio.sleep(0.05)  # about a second in all
        return DiagnosticsResult(sum=0, attempt=job.attempt)

    await run_worker(chatty, progress_interval=0.25)
    envelope = await submit(module_lifecycle)
    await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    events = [
        job_event_decoder.decode(b) for _, b in await module_store.events_after(envelope.job_id, 0)
    ]
    progress = [e for e in events if isinstance(e, JobProgressed)]
    assert 2 <= len(progress) <= 7, len(progress)  # ~1 s at one event per 0.25 s, plus the last
    assert (progress[-1].done, progress[-1].total) == (2000, 2000)
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(progress)]
    assert all(gap >= 0.2 for gap in gaps[:-1]), gaps  # the final flush may come sooner


async def test_a_worker_heartbeat_says_who_it_is_and_what_it_runs(
    run_worker: Callable[..., Awaitable[Worker]],
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    namespace: str,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def waiting(request: DiagnosticsRequest, *, job: JobContext) -> None:
        started.set()
        await release.wait()

    worker = await run_worker(waiting, instance="beat-test", concurrency=3, heartbeat_interval=0.1)
    envelope = await submit(module_lifecycle)
    await asyncio.wait_for(started.wait(), 10)
    async with asyncio.timeout(5):  # the first beat after the job started
        while True:
            raw = await module_store.redis.get(module_store.keys.worker("beat-test"))
            if raw is not None:
                beat = msgspec.json.decode(raw, type=WorkerHeartbeat)
                if beat.running_jobs:
                    break
            await asyncio.sleep(0.02)
    release.set()
    assert (beat.service, beat.instance, beat.concurrency) == ("maintenance", "beat-test", 3)
    assert beat.job_types == ["diagnostics"]
    assert beat.running_jobs == [envelope.job_id]
    assert 0 < await module_store.redis.ttl(module_store.keys.worker("beat-test")) <= 2
    assert worker.running_jobs in ([envelope.job_id], [])


async def test_every_job_message_taken_is_counted_on_the_service_queue_subscription(
    run_worker: Callable[..., Awaitable[Worker]],
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async def quick(request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
        return DiagnosticsResult(sum=0, attempt=job.attempt)

    worker = await run_worker(quick)
    envelopes = [await submit(module_lifecycle) for _ in range(3)]
    for envelope in envelopes:
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
        assert record.state == JobState.SUCCEEDED
    taken = worker.metrics.registry.get_sample_value(
        "conveyor_messages_consumed_total",
        {"subscription": "jobs.maintenance", "outcome": "handled"},
    )
    assert taken == 3
