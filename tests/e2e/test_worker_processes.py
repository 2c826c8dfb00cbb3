"""Worker processes that start, stop, crash and compete: each test runs its own workers."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from conveyor.contracts.events import (
    JobCancelled,
    JobQueued,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.jobs import DiagnosticsResult, Priority
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.contracts.topology import HEADER_ERROR_CODE
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
)
from tests.support.rabbit import close_rabbit_connection
from tests.support.services import running_worker, start_worker


async def test_cancelling_a_queued_job_means_it_never_runs(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_CONCURRENCY="1", **FAST_WORKER_ENV
    ):
        blocker = await submit_diagnostics(module_lifecycle, sleep_seconds=1.0, steps=2)
        await wait_for_state(module_store, blocker.job_id, {JobState.RUNNING})
        queued = await submit_diagnostics(module_lifecycle, numbers=[1])
        outcome = await module_lifecycle.cancel(
            queued.job_id, queued.owner, queued.job_type, "test"
        )
        assert outcome.ok and outcome.previous_state == JobState.QUEUED
        await wait_for_state(module_store, blocker.job_id, FINAL_STATES)
        follower = await submit_diagnostics(module_lifecycle, numbers=[1])
        await wait_for_state(module_store, follower.job_id, FINAL_STATES)
    events = await history(module_store, queued.job_id)
    assert [type(e) for e in events] == [JobQueued, JobCancelled]
    record = await module_store.get(queued.job_id)
    assert record is not None and record.state == JobState.CANCELLED


async def test_an_interactive_job_runs_ahead_of_a_backlog_of_bulk_jobs(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_CONCURRENCY="1", **FAST_WORKER_ENV
    ):
        blocker = await submit_diagnostics(module_lifecycle, sleep_seconds=0.5)
        await wait_for_state(module_store, blocker.job_id, {JobState.RUNNING})
        bulk = [
            await submit_diagnostics(module_lifecycle, priority=Priority.BULK, sleep_seconds=0.05)
            for _ in range(5)
        ]
        urgent = await submit_diagnostics(module_lifecycle, priority=Priority.INTERACTIVE)
        for envelope in [*bulk, urgent]:
            await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    records = [await module_store.get(e.job_id) for e in [blocker, urgent, *bulk]]
    order = sorted(records, key=lambda r: r.started_at)  # type: ignore[union-attr,arg-type,return-value]
    assert [r.job_id for r in order][:2] == [blocker.job_id, urgent.job_id]  # type: ignore[union-attr]


async def test_a_worker_killed_mid_job_has_the_job_redelivered_and_completed_once(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    first = await start_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV)
    envelope = await submit_diagnostics(module_lifecycle, numbers=[5], sleep_seconds=2, steps=20)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    first.kill()
    assert await first.wait() == -9
    async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV) as second:
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.SUCCEEDED
    assert record.result == DiagnosticsResult(sum=5, attempt=1)
    assert record.worker == second.instance
    events = await history(module_store, envelope.job_id)
    assert [type(e) for e in events].count(JobSucceeded) == 1
    assert [e.worker for e in events if isinstance(e, JobStarted)] == [
        first.instance,
        second.instance,
    ]


async def test_a_job_that_keeps_crashing_its_worker_is_dead_lettered(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    module_broker: Broker,
) -> None:
    env = {**FAST_WORKER_ENV, "CONVEYOR_MAX_CRASHES": "2"}
    envelope = await submit_diagnostics(module_lifecycle, crash_deliveries=100)
    for _ in range(2):
        crashed = await start_worker(MAINTENANCE, module_namespace, redis, **env)
        assert await crashed.wait() == -9  # the job killed it
    async with running_worker(MAINTENANCE, module_namespace, redis, **env):
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.FAILED
    assert record.error is not None and record.error.code == "crashed_too_often"
    [dead] = await dead_letters_for(module_broker, envelope.job_id)
    assert dead.headers[HEADER_ERROR_CODE] == "crashed_too_often"


async def test_sigterm_lets_the_running_job_finish_and_the_worker_exits_zero(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    service = await start_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV)
    envelope = await submit_diagnostics(module_lifecycle, numbers=[7], sleep_seconds=1.5, steps=3)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    started = time.monotonic()
    service.terminate()
    assert await service.wait(15) == 0, service.output()
    assert time.monotonic() - started >= 0.5  # it waited for the job
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state == JobState.SUCCEEDED
    assert await redis.exists(module_store.keys.worker(service.instance)) == 0


async def test_a_job_past_its_shutdown_grace_is_requeued_not_lost(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    env = {**FAST_WORKER_ENV, "CONVEYOR_SHUTDOWN_GRACE": "0.3"}
    service = await start_worker(MAINTENANCE, module_namespace, redis, **env)
    envelope = await submit_diagnostics(module_lifecycle, numbers=[1], sleep_seconds=3, steps=3)
    await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
    service.terminate()
    assert await service.wait(15) == 0, service.output()
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state == JobState.QUEUED
    async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV):
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    assert record.state == JobState.SUCCEEDED
    assert record.result == DiagnosticsResult(sum=1, attempt=1)


async def test_a_handler_past_its_soft_time_limit_is_cancelled_and_failed(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    env = {**FAST_WORKER_ENV, "CONVEYOR_SOFT_TIME_LIMIT": "0.5", "CONVEYOR_HARD_TIME_LIMIT": "2"}
    async with running_worker(MAINTENANCE, module_namespace, redis, **env):
        envelope = await submit_diagnostics(module_lifecycle, sleep_seconds=10, steps=10)
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.FAILED
    assert record.error is not None and record.error.code == "time_limit_exceeded"
    assert record.finished_at is not None and record.started_at is not None
    assert (record.finished_at - record.started_at).total_seconds() < 2


async def test_a_worker_whose_connection_drops_reconnects_and_finishes_its_jobs_once(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV) as worker:
        running = await submit_diagnostics(
            module_lifecycle, numbers=[3], sleep_seconds=1.5, steps=15
        )
        await wait_for_state(module_store, running.job_id, {JobState.RUNNING})
        await asyncio.to_thread(close_rabbit_connection, f"maintenance:{worker.instance}")
        record = await wait_for_state(module_store, running.job_id, FINAL_STATES, timeout=30)
        assert record.state == JobState.SUCCEEDED
        after = await submit_diagnostics(module_lifecycle, numbers=[2, 2])
        record = await wait_for_state(module_store, after.job_id, FINAL_STATES, timeout=30)
        assert record.state == JobState.SUCCEEDED
        assert worker.process.returncode is None
    events = await history(module_store, running.job_id)
    assert [type(e) for e in events].count(JobSucceeded) == 1
    assert isinstance(events[-1], JobSucceeded)
