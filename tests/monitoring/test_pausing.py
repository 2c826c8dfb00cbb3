"""Pausing and resuming a job type through the control exchange."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.monitoring.support import ADMIN, OPERATOR, eventually, get_json
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import ServiceProcess, running_worker


async def _queues(client: TestClient[Any, Any]) -> dict[str, Any]:
    body: dict[str, Any] = await get_json(client, "/api/v1/admin/queues", OPERATOR)
    return body


async def _until_logged(worker: ServiceProcess, text: str, count: int = 1) -> None:
    await eventually(
        lambda: asyncio.sleep(0, worker.output()), lambda out: out.count(text) >= count
    )


async def test_a_paused_type_waits_parked_and_runs_once_resumed(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_namespace: str,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    response = await ops_client.post("/api/v1/admin/job-types/diagnostics/pause", headers=ADMIN)
    assert response.status == 202, await response.text()
    assert (await response.json())["paused_job_types"] == ["diagnostics"]
    await _until_logged(maintenance_worker, "job type diagnostics paused")

    envelopes = [await submit_diagnostics(module_lifecycle, numbers=[i]) for i in range(3)]
    parked = Topology(module_namespace).parked_queue("diagnostics")
    body = await eventually(
        lambda: _queues(ops_client),
        lambda b: any(q["name"] == parked and q["messages"] == 3 for q in b["queues"]),
    )
    assert body["paused_job_types"] == ["diagnostics"]
    for envelope in envelopes:
        record = await module_store.get(envelope.job_id)
        assert record is not None and record.state is JobState.QUEUED

    response = await ops_client.post("/api/v1/admin/job-types/diagnostics/resume", headers=ADMIN)
    assert response.status == 202
    assert (await response.json())["paused_job_types"] == []
    for i, envelope in enumerate(envelopes):
        record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
        assert record.attempt == 1
        assert record.result is not None and record.result.sum == i  # type: ignore[union-attr]
    after = await _queues(ops_client)
    assert parked not in {q["name"] for q in after["queues"]}  # empty and not paused


async def test_a_worker_started_while_paused_obeys_the_pause(
    ops_client: TestClient[Any, Any],
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    maintenance_worker: ServiceProcess,
) -> None:
    await ops_client.post("/api/v1/admin/job-types/diagnostics/pause", headers=ADMIN)
    await _until_logged(maintenance_worker, "job type diagnostics paused", count=2)
    try:
        async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV) as late:
            envelopes = [await submit_diagnostics(module_lifecycle) for _ in range(4)]
            await _until_logged(late, "parked a job of paused type diagnostics")
            for envelope in envelopes:
                record = await module_store.get(envelope.job_id)
                assert record is not None and record.state is JobState.QUEUED
    finally:
        response = await ops_client.post(
            "/api/v1/admin/job-types/diagnostics/resume", headers=ADMIN
        )
        assert response.status == 202
    for envelope in envelopes:
        await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})


async def test_pausing_an_unknown_type_is_a_404_naming_it(
    ops_client: TestClient[Any, Any],
) -> None:
    response = await ops_client.post("/api/v1/admin/job-types/nonsense/pause", headers=ADMIN)
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["field"] == "job_type" and "nonsense" in error["message"]
