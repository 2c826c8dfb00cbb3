"""``GET /api/v1/admin/workers`` and draining workers through the control exchange."""

from __future__ import annotations

import os
import socket
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.monitoring.support import ADMIN, OPERATOR, eventually, get_json
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import ServiceProcess, start_worker


async def _workers(client: TestClient[Any, Any]) -> dict[str, dict[str, Any]]:
    body = await get_json(client, "/api/v1/admin/workers", OPERATOR)
    return {w["instance"]: w for w in body["workers"]}


async def test_a_running_worker_is_listed_alive_with_its_heartbeat(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    envelope = await submit_diagnostics(module_lifecycle, sleep_seconds=1.5, steps=3)
    await eventually(
        lambda: _workers(ops_client),
        lambda ws: envelope.job_id in ws[maintenance_worker.instance]["running_jobs"],
    )
    await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    workers = await eventually(
        lambda: _workers(ops_client),
        # A heartbeat is up to an interval old: wait for one taken after the job finished.
        lambda ws: (
            ws.get(maintenance_worker.instance, {}).get("processed", 0) >= 1
            and ws[maintenance_worker.instance]["running_jobs"] == []
        ),
    )
    worker = workers[maintenance_worker.instance]
    assert worker["status"] == "alive"
    assert worker["service"] == "maintenance"
    assert worker["host"] == socket.gethostname()
    assert worker["pid"] == maintenance_worker.process.pid != os.getpid()
    assert worker["concurrency"] == 4
    assert "diagnostics" in worker["job_types"]
    assert isinstance(worker["failed"], int)
    assert worker["seconds_since_seen"] < 30


async def test_a_worker_that_died_silently_is_reported_dead(
    ops_client: TestClient[Any, Any], module_namespace: str, redis: Redis
) -> None:
    worker = await start_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV)
    try:
        assert (await _workers(ops_client))[worker.instance]["status"] == "alive"
        worker.kill()  # no clean exit: its heartbeat just stops
        await worker.wait()
        # The heartbeat key's TTL is a few intervals (1 s here).
        workers = await eventually(
            lambda: _workers(ops_client),
            lambda ws: ws[worker.instance]["status"] == "dead",
            timeout=20,
        )
        assert workers[worker.instance]["pid"] == worker.process.pid
    finally:
        worker.kill()


async def test_draining_one_worker_finishes_its_job_and_stops_only_it(
    ops_client: TestClient[Any, Any],
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    maintenance_worker: ServiceProcess,
) -> None:
    draining = await start_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV)
    try:
        # Both workers compete (round-robin); submit until the new one runs a job.
        mine: list[str] = []
        for _ in range(10):
            envelope = await submit_diagnostics(module_lifecycle, sleep_seconds=1.5, steps=3)
            record = await wait_for_state(module_store, envelope.job_id, {JobState.RUNNING})
            if record.worker == draining.instance:
                mine.append(envelope.job_id)
                break
        assert mine, "the new worker never got a job"
        response = await ops_client.post(
            f"/api/v1/admin/workers/{draining.instance}/drain", headers=ADMIN
        )
        assert response.status == 202, await response.text()
        assert (await response.json())["instance"] == draining.instance
        assert await draining.wait(20) == 0
        finished = await wait_for_state(module_store, mine[0], {JobState.SUCCEEDED})
        assert finished.attempt == 1 and finished.worker == draining.instance
        assert "drain requested" in draining.output()
        assert maintenance_worker.process.returncode is None
        workers = await _workers(ops_client)
        assert draining.instance not in workers  # a clean exit removes its registry entry
        assert workers[maintenance_worker.instance]["status"] == "alive"
    finally:
        draining.kill()


async def test_draining_an_unknown_worker_is_a_404_naming_it(
    ops_client: TestClient[Any, Any],
) -> None:
    response = await ops_client.post("/api/v1/admin/workers/no-such-worker/drain", headers=ADMIN)
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["field"] == "instance" and "no-such-worker" in error["message"]
