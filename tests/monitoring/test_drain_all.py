"""``POST /api/v1/admin/workers/drain`` stops every worker (this module's namespace only)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.monitoring.isolation import own_namespace  # noqa: F401 (a namespace of its own)
from tests.monitoring.support import ADMIN, get_json
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import start_worker


async def test_draining_all_workers_lets_running_jobs_finish_then_stops_each(
    ops_client: TestClient[Any, Any],
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    workers = await asyncio.gather(
        *(start_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV) for _ in range(2))
    )
    try:
        envelope = await submit_diagnostics(module_lifecycle, sleep_seconds=1.0, steps=2)
        await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
        response = await ops_client.post("/api/v1/admin/workers/drain", headers=ADMIN)
        assert response.status == 202, await response.text()
        codes = await asyncio.gather(*(w.wait(20) for w in workers))
        assert codes == [0, 0]
        record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
        assert record.attempt == 1
        listed = await get_json(ops_client, "/api/v1/admin/workers")
        assert listed["workers"] == []
    finally:
        for worker in workers:
            worker.kill()
