"""The dead-letter queue through the API: list without taking, replay, purge."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import JOB_EVENT_KINDS, JobEvent
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.monitoring.support import ADMIN, OPERATOR, eventually, get_json
from tests.support.jobs import FAST_WORKER_ENV, history, submit_diagnostics, wait_for_state
from tests.support.services import ServiceProcess, running_worker

EXPORT_WORKER = "conveyor.export_worker"


def _kind(event: JobEvent) -> str:
    return JOB_EVENT_KINDS[type(event)]


async def _letters(client: TestClient[Any, Any]) -> dict[str, Any]:
    body: dict[str, Any] = await get_json(client, "/api/v1/admin/dead-letters", OPERATOR)
    return body


async def _dead_letter_a_failing_job(
    lifecycle: JobLifecycle, store: JobStore, client: TestClient[Any, Any]
) -> str:
    envelope = await submit_diagnostics(lifecycle, fail_attempts=1, max_attempts=1, numbers=[4])
    await wait_for_state(store, envelope.job_id, {JobState.FAILED})
    await eventually(
        lambda: _letters(client),
        lambda b: envelope.job_id in {d["id"] for d in b["dead_letters"]},
    )
    return envelope.job_id


async def test_listing_dead_letters_shows_reason_and_preview_and_takes_nothing(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
) -> None:
    job_id = await _dead_letter_a_failing_job(module_lifecycle, module_store, ops_client)
    first = await _letters(ops_client)
    second = await _letters(ops_client)
    assert first == second  # browsing requeued everything, in order
    assert first["total"] == len(first["dead_letters"]) >= 1
    letter = next(d for d in first["dead_letters"] if d["id"] == job_id)
    assert letter["job_id"] == job_id
    assert letter["job_type"] == "diagnostics"
    assert letter["owner"] == "tester"
    assert letter["error_code"] == "handler_error"
    assert "failing attempt 1 of 1 on purpose" in letter["reason"]
    assert letter["routing_key"] == "job.diagnostics"
    assert letter["dead_lettered_at"]
    assert '"numbers":[4.0]' in letter["payload_preview"]
    assert letter["payload_bytes"] == len(letter["payload_preview"].encode())


async def test_a_replayed_dead_letter_runs_again_as_attempt_one(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
) -> None:
    job_id = await _dead_letter_a_failing_job(module_lifecycle, module_store, ops_client)
    response = await ops_client.post(
        "/api/v1/admin/dead-letters/replay", json={"ids": [job_id, "not-there"]}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "replayed": [job_id],
        "missing": ["not-there"],
        "not_replayable": [],
    }
    # It fails again on purpose (attempt 1 always does), which proves it ran again.
    await eventually(
        lambda: history(module_store, job_id),
        lambda events: [_kind(e) for e in events].count("failed") == 2,
    )
    events = [(_kind(e), getattr(e, "attempt", None)) for e in await history(module_store, job_id)]
    after_first_failure = events[events.index(("failed", None)) + 1 :]
    assert after_first_failure == [("queued", 1), ("started", 1), ("failed", None)]
    record = await module_store.get(job_id)
    assert record is not None and record.state is JobState.FAILED and record.attempt == 1


async def test_a_dead_letter_replayed_to_the_right_queue_succeeds(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_namespace: str,
    module_broker: Broker,
    module_store: JobStore,
    redis: Redis,
) -> None:
    # A diagnostics job that landed in the export queue: the export worker has no handler
    # for it and dead-letters it; replayed, it is routed by its type and succeeds.
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[2, 3]), owner="tester")
    topology = Topology(module_namespace)
    async with running_worker(EXPORT_WORKER, module_namespace, redis, **FAST_WORKER_ENV):
        await module_broker.publish(
            "", topology.service_queue("export"), encode(envelope), message_id=envelope.job_id
        )
        body = await eventually(
            lambda: _letters(ops_client),
            lambda b: envelope.job_id in {d["id"] for d in b["dead_letters"]},
        )
    letter = next(d for d in body["dead_letters"] if d["id"] == envelope.job_id)
    assert letter["error_code"] == "unknown_job_type"
    response = await ops_client.post(
        "/api/v1/admin/dead-letters/replay", json={"all": True}, headers=ADMIN
    )
    assert response.status == 200
    assert envelope.job_id in (await response.json())["replayed"]
    record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    assert msgspec.to_builtins(record.result)["sum"] == 5.0
    assert envelope.job_id not in {d["id"] for d in (await _letters(ops_client))["dead_letters"]}


async def test_replay_needs_ids_or_all_and_names_the_field(
    ops_client: TestClient[Any, Any],
) -> None:
    for body, field in (
        ({}, "$.ids"),
        ({"ids": ["a"], "all": True}, "$.all"),
        ({"ids": 3}, "$.ids"),
    ):
        response = await ops_client.post(
            "/api/v1/admin/dead-letters/replay", json=body, headers=ADMIN
        )
        assert response.status == 400, body
        assert (await response.json())["error"]["field"] == field
    response = await ops_client.get("/api/v1/admin/dead-letters?limit=0", headers=ADMIN)
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "limit"


async def test_purging_empties_the_dead_letter_queue(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
) -> None:
    await _dead_letter_a_failing_job(module_lifecycle, module_store, ops_client)
    total = (await _letters(ops_client))["total"]
    response = await ops_client.delete("/api/v1/admin/dead-letters", headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["purged"] == total >= 1
    assert (await _letters(ops_client)) == {"dead_letters": [], "total": 0}
