"""Strict input at the HTTP boundary (api.bodies): unknown fields, depth and bounds are 400s."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.maintenance.default_schedules import default_schedules
from conveyor.runtime.schedule_store import ScheduleStore
from tests.gateway.helpers import auth, new_user

Client = TestClient[Any, Any]

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("job_type", "body", "field"),
    [
        ("export", {"filters": {"region": ["NCR"]}}, "$.filters.region"),
        ("export", {"filter": {"areas": ["NCR"]}}, "$.filter"),
        ("aggregates", {"filters": {"areas": ["NCR"], "areaz": []}}, "$.filters.areaz"),
        (
            "search",
            {"filters": {"time_ranges": [{"start": "2024-01-01", "end": "2024-02-01", "x": 1}]}},
            "$.filters.time_ranges[0].x",
        ),
        ("search", {"sort": [{"column": "region", "desc": True}]}, "$.sort[0].desc"),
        ("export", {"filters": {"value_range": {"min": 1, "mx": 2}}}, "$.filters.value_range.mx"),
        ("diagnostics", {"number": [1]}, "$.number"),
    ],
)
async def test_an_unknown_field_is_a_bad_request_naming_it(
    client: Client, job_type: str, body: Any, field: str
) -> None:
    response = await client.post(f"/api/v1/jobs/{job_type}", json=body, headers=auth(new_user()))
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert "unknown field" in error["message"]


@pytest.mark.parametrize(
    ("job_type", "body", "field"),
    [
        ("maintenance.purge_expired_jobs", {"older_than_days": 3651}, "$.older_than_days"),
        ("maintenance.purge_expired_jobs", {"older_than_days": 10**30}, "$.older_than_days"),
        ("diagnostics", {"numbers": [1e300]}, "$.numbers[0]"),
        ("diagnostics", {"steps": 10**20}, "$.steps"),
        ("search", {"page": 10**25}, "$.page"),
        ("export", {"filters": {"value_range": {"max": 1e30}}}, "$.filters.value_range.max"),
    ],
)
async def test_a_number_out_of_bounds_is_a_bad_request_naming_it(
    client: Client, job_type: str, body: Any, field: str
) -> None:
    headers = auth(new_user(), admin=True)
    response = await client.post(f"/api/v1/jobs/{job_type}", json=body, headers=headers)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["field"] == field


@pytest.mark.parametrize(
    "body",
    [
        b'{"filters": {"areas": ["NCR"]}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"filters": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    ],
    ids=["deep-unknown-field", "deep-array", "deep-object"],
)
async def test_deeply_nested_json_is_a_bad_request_not_a_500(client: Client, body: bytes) -> None:
    response = await client.post("/api/v1/jobs/export", data=body, headers=auth(new_user(), **JSON))
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid_request"


async def test_a_schedule_trigger_with_an_unknown_field_is_a_bad_request(
    client: Client, redis: Redis, keys: Keys
) -> None:
    await ScheduleStore(redis, keys).seed(default_schedules("UTC"))
    response = await client.put(
        "/api/v1/admin/schedules/cleanup-exports/trigger",
        json={"cron": "0 2 * * *", "zone": "UTC"},
        headers=auth(new_user(), admin=True),
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["field"] == "$.zone"


async def test_a_dead_letter_replay_with_an_unknown_field_is_a_bad_request(
    client: Client,
) -> None:
    response = await client.post(
        "/api/v1/admin/dead-letters/replay",
        json={"al": True},
        headers=auth(new_user(), admin=True),
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["field"] == "$.al"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/jobs?limt=10", "limt"),
        ("/api/v1/jobs?all=yes", "all"),
        ("/api/v1/jobs?type=", "type"),
        ("/api/v1/jobs?state=", "state"),
        ("/api/v1/admin/stats/jobs?windw=1h", "windw"),
        ("/api/v1/health?verbose=1", "verbose"),
    ],
)
async def test_an_unknown_or_malformed_query_parameter_is_a_bad_request_naming_it(
    client: Client, path: str, field: str
) -> None:
    response = await client.get(path, headers=auth(new_user(), admin=True))
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["field"] == field
