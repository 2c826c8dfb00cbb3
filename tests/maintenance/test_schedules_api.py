"""The schedules admin API on an in-process gateway, with a real maintenance process leading:
list, pause, resume, reschedule and run now take effect at runtime."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.gateway.state import Gateway
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, auth, running_gateway
from tests.maintenance.support import FAST_SCHEDULER_ENV, tap_jobs
from tests.support.jobs import MAINTENANCE, wait_for_state
from tests.support.services import ServiceProcess, running_worker

BASE = "/api/v1/admin/schedules"
ADMIN = auth("root", admin=True)
HEALTH_JOBS = "job.maintenance.check_system_health"
CLOCK, CLOCK_CRON = "cleanup-exports", "0 2 * * *"
CLOCK_JOBS = "job.maintenance.cleanup_exports"
DEFAULT_NAMES = {
    "cleanup-exports",
    "validate-dataset",
    "daily-statistics",
    "system-health",
    "purge-expired-jobs",
}


@pytest.fixture(scope="module")
async def api(module_namespace: str) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    async with running_gateway(module_namespace) as pair:
        yield pair


@pytest.fixture(scope="module")
def client(api: tuple[Gateway, TestClient[Any, Any]]) -> TestClient[Any, Any]:
    return api[1]


@pytest.fixture(scope="module")
async def maintenance(
    module_namespace: str, redis: Redis, tmp_path_factory: pytest.TempPathFactory, api: object
) -> AsyncIterator[ServiceProcess]:
    data_dir: Path = tmp_path_factory.mktemp("schedules-data")
    env = {**FAST_SCHEDULER_ENV, "CONVEYOR_DATA_DIR": str(data_dir)}
    async with running_worker(MAINTENANCE, module_namespace, redis, **env) as worker:
        yield worker


async def _get(client: TestClient[Any, Any], name: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{name}", headers=ADMIN)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _send(
    client: TestClient[Any, Any], method: str, path: str, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    response = await client.request(method, f"{BASE}/{path}", headers=ADMIN, **kwargs)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_the_seeded_schedules_are_listed_with_their_next_run(
    client: TestClient[Any, Any], maintenance: ServiceProcess
) -> None:
    response = await client.get(BASE, headers=ADMIN)
    assert response.status == 200
    schedules = {s["name"]: s for s in (await response.json())["schedules"]}
    assert set(schedules) == DEFAULT_NAMES
    cleanup = schedules["cleanup-exports"]
    assert cleanup["job_type"] == "maintenance.cleanup_exports"
    assert (cleanup["trigger"], cleanup["cron"], cleanup["timezone"]) == (
        "cron",
        "0 2 * * *",
        "UTC",
    )
    next_run = dt.datetime.fromisoformat(cleanup["next_run"])
    assert (next_run.hour, next_run.minute) == (2, 0)
    assert dt.timedelta(0) < next_run - dt.datetime.now(dt.UTC) <= dt.timedelta(days=1)
    health = schedules["system-health"]
    assert (health["trigger"], health["interval_seconds"]) == ("interval", 900)
    assert dt.datetime.fromisoformat(health["next_run"]).minute % 15 == 0
    assert all(s["paused"] is False and s["last_run"] is None for s in schedules.values())


async def test_only_admins_change_schedules_and_operators_may_read_them(
    client: TestClient[Any, Any],
) -> None:
    operator = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', roles=('operator',))}"}
    assert (await client.get(BASE, headers=operator)).status == 200
    assert (await client.get(f"{BASE}/system-health", headers=operator)).status == 200
    assert (await client.post(f"{BASE}/system-health/pause", headers=operator)).status == 403
    assert (await client.get(BASE, headers=auth("someone"))).status == 403
    assert (await client.post(f"{BASE}/system-health/run", headers=auth("someone"))).status == 403
    assert (await client.get(BASE)).status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "every day at two"}, "cron"),
        ({"cron": "0 25 * * *"}, "cron"),
        ({"cron": "0 2 * * *", "interval_seconds": 60}, "cron"),
        ({}, "interval_seconds"),
        ({"interval_seconds": 0}, "$.interval_seconds"),
        ({"interval_seconds": "often"}, "$.interval_seconds"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
async def test_a_nonsense_trigger_is_a_400_naming_the_field(
    client: TestClient[Any, Any], body: dict[str, Any], field: str, maintenance: ServiceProcess
) -> None:
    before = await _get(client, "daily-statistics")
    error = await _send(client, "PUT", "daily-statistics/trigger", 400, json=body)
    assert error["error"]["field"] == field
    assert await _get(client, "daily-statistics") == before


async def test_unknown_schedules_are_404(client: TestClient[Any, Any]) -> None:
    for method, path in [("GET", "nope"), ("POST", "nope/pause"), ("POST", "nope/run")]:
        assert (await client.request(method, f"{BASE}/{path}", headers=ADMIN)).status == 404
    response = await client.put(f"{BASE}/nope/trigger", headers=ADMIN, json={"cron": "* * * * *"})
    assert response.status == 404


async def test_a_cron_trigger_is_read_in_the_schedules_timezone(
    client: TestClient[Any, Any], maintenance: ServiceProcess
) -> None:
    body = {"cron": "0 2 * * *", "timezone": "Asia/Manila"}
    view = await _send(client, "PUT", "daily-statistics/trigger", json=body)
    assert (view["cron"], view["timezone"]) == ("0 2 * * *", "Asia/Manila")
    next_run = dt.datetime.fromisoformat(view["next_run"]).astimezone(dt.UTC)
    assert (next_run.hour, next_run.minute) == (18, 0)  # 02:00 in Manila (UTC+8)
    assert await _get(client, "daily-statistics") == view


async def test_reschedule_pause_and_resume_take_effect_at_runtime(
    client: TestClient[Any, Any],
    module_broker: Broker,
    module_store: JobStore,
    maintenance: ServiceProcess,
) -> None:
    async with tap_jobs(module_broker, HEALTH_JOBS, CLOCK_JOBS) as tap:
        view = await _send(client, "PUT", "system-health/trigger", json={"interval_seconds": 1})
        assert (view["trigger"], view["interval_seconds"], view["cron"]) == ("interval", 1, None)
        await tap.wait_for(2, "system-health", timeout=10)

        await _send(client, "POST", "system-health/pause")
        paused_view = await _get(client, "system-health")
        assert paused_view["paused"] is True and paused_view["next_run"] is None
        # Another schedule edited after the pause is the scheduler's clock: once it fires, the
        # pause is loaded too, and every firing of either that the scheduler sent before
        # reached the tap first (one publisher, one queue).
        await _send(client, "PUT", f"{CLOCK}/trigger", json={"interval_seconds": 1})
        try:
            await tap.wait_for(1, CLOCK, timeout=10)
            paused_at = tap.fire_times(CLOCK)[0]
            during = len(tap.fire_times("system-health"))
            # Two more ticks: a second at least in which system-health was due and not sent.
            await tap.wait_for(3, CLOCK, timeout=10)
            assert len(tap.fire_times("system-health")) == during, "fired while paused"
        finally:
            await _send(client, "PUT", f"{CLOCK}/trigger", json={"cron": CLOCK_CRON})

        resumed_at = dt.datetime.now(dt.UTC)
        resumed = await _send(client, "POST", "system-health/resume")
        assert resumed["paused"] is False and resumed["next_run"] is not None
        await tap.wait_for(during + 2, "system-health", timeout=10)
        await _send(client, "POST", "system-health/pause")

    times = tap.fire_times("system-health")
    assert len(times) == len(set(times))
    # Firings due while paused are not caught up after resuming.
    assert not [t for t in times if paused_at < t < resumed_at]
    last = await _get(client, "system-health")
    record = await wait_for_state(
        module_store, last["last_job_id"], {JobState.SUCCEEDED}, timeout=15
    )
    assert record.owner == "scheduler" and record.priority == "scheduled"
    assert dt.datetime.fromisoformat(last["last_run"]) >= resumed_at
    assert (await _get(client, "system-health"))["last_outcome"] == "succeeded"


async def test_run_now_queues_the_job_at_once_and_records_it_as_the_last_run(
    client: TestClient[Any, Any], module_store: JobStore, maintenance: ServiceProcess
) -> None:
    accepted = await _send(client, "POST", "purge-expired-jobs/run", 202)
    assert accepted["schedule"] == "purge-expired-jobs"
    record = await wait_for_state(
        module_store, accepted["job_id"], {JobState.SUCCEEDED}, timeout=15
    )
    assert record.job_type == "maintenance.purge_expired_jobs"
    view = await _get(client, "purge-expired-jobs")
    assert view["last_job_id"] == accepted["job_id"]
    assert view["last_outcome"] == "succeeded"
    # Its trigger is untouched: the next run is still the daily one.
    assert view["next_run"] is not None
    assert dt.datetime.fromisoformat(view["next_run"]) > dt.datetime.now(dt.UTC)
