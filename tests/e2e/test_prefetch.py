"""``CONVEYOR_PREFETCH`` above the concurrency (classic queues): a worker holds that many
deliveries, and the held ones run highest priority first, not in arrival order."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from conveyor.contracts.jobs import Priority
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import running_worker

HOLDS_THREE = {**FAST_WORKER_ENV, "CONVEYOR_CONCURRENCY": "1", "CONVEYOR_PREFETCH": "3"}


async def ready_in_queue(broker: Broker, service: str) -> int:
    """Messages of the service's job queue the broker has not delivered yet."""
    [(name, _)] = broker.topology.job_queues(service)
    channel = await broker.connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await channel.close()


async def test_a_worker_holds_its_prefetch_and_runs_held_jobs_by_priority(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_broker: Broker,
    module_lifecycle: JobLifecycle,
) -> None:
    lifecycle = module_lifecycle
    async with running_worker(MAINTENANCE, module_namespace, redis, **HOLDS_THREE):
        blocker = await submit_diagnostics(lifecycle, sleep_seconds=1.5)
        await wait_for_state(module_store, blocker.job_id, {JobState.RUNNING})
        # Delivered at once (two deliveries of credit left) and held behind the blocker, the
        # scheduled one first: a held queue in arrival order would run it next.
        scheduled = await submit_diagnostics(
            lifecycle, priority=Priority.SCHEDULED, sleep_seconds=0.05
        )
        interactive = await submit_diagnostics(lifecycle, sleep_seconds=0.05)
        # No credit left: these stay in the broker's queue until a held job is acked.
        bulk = [
            await submit_diagnostics(lifecycle, priority=Priority.BULK, sleep_seconds=0.05)
            for _ in range(2)
        ]
        ready = await ready_in_queue(module_broker, "maintenance")
        for _ in range(50):  # the publishes are confirmed; the broker's count lags a little
            if ready == 2:
                break
            await asyncio.sleep(0.02)
            ready = await ready_in_queue(module_broker, "maintenance")
        blocker_state = (await module_store.get(blocker.job_id)).state  # type: ignore[union-attr]
        everyone = [blocker, scheduled, interactive, *bulk]
        for envelope in everyone:
            await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    assert blocker_state is JobState.RUNNING, "the blocker ended before the held jobs were seen"
    assert ready == 2, f"{ready} job(s) left in the queue: the worker held {4 - ready}, not 2"
    records = {e.job_id: await module_store.get(e.job_id) for e in everyone}
    assert all(r is not None and r.state is JobState.SUCCEEDED for r in records.values())
    started = sorted(records, key=lambda job_id: records[job_id].started_at)  # type: ignore[union-attr,arg-type,return-value]
    assert started[:2] == [blocker.job_id, interactive.job_id]
