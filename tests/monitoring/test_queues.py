"""``GET /api/v1/admin/queues``: depth and consumers by passive declare, rates by sampling."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.topology import Topology
from conveyor.runtime.lifecycle import JobLifecycle
from tests.monitoring.isolation import own_namespace  # noqa: F401 (a namespace of its own)
from tests.monitoring.support import OPERATOR, eventually, get_json
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics
from tests.support.services import running_worker


async def _queues(client: TestClient[Any, Any]) -> dict[str, dict[str, Any]]:
    body = await get_json(client, "/api/v1/admin/queues", OPERATOR)
    return {q["name"]: q for q in body["queues"]}


async def test_queues_show_depth_consumers_and_rates(
    ops_client: TestClient[Any, Any],
    module_namespace: str,
    redis: Redis,
    module_lifecycle: JobLifecycle,
) -> None:
    topology = Topology(module_namespace)
    name = topology.service_queue("maintenance")
    before = await _queues(ops_client)
    assert set(before) >= {
        topology.service_queue("export"),
        topology.service_queue("aggregates"),
        name,
        topology.dead_letter_queue,
    }
    assert before[name]["kind"] == "service"
    assert "diagnostics" in before[name]["job_types"]
    assert "maintenance.cleanup_exports" in before[name]["job_types"]
    assert before[topology.dead_letter_queue]["kind"] == "dead_letters"
    start = before[name]["messages"]

    for _ in range(5):  # no worker yet: they wait in the queue
        await submit_diagnostics(module_lifecycle, numbers=[1])
    queued = await _queues(ops_client)
    assert queued[name]["messages"] == start + 5
    assert queued[name]["consumers"] == 0
    assert queued[name]["depth_rate"] > 0  # grew since the previous sample
    assert queued[name]["sampled_seconds"] > 0
    assert queued[name]["enqueued_per_second"] == round(5 / 60, 3)  # 5 jobs in the last minute

    async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV):
        drained = await eventually(
            lambda: _queues(ops_client), lambda qs: qs[name]["messages"] == 0
        )
        assert drained[name]["consumers"] == 1
        assert drained[name]["depth_rate"] <= 0


async def test_no_job_type_is_paused_at_first(
    ops_client: TestClient[Any, Any],
) -> None:
    body = await get_json(ops_client, "/api/v1/admin/queues", OPERATOR)
    assert body["paused_job_types"] == []
