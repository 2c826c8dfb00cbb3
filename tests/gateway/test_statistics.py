"""``GET /api/v1/statistics/daily`` (conveyor.gateway.api.statistics) on the real Redis."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.codecs import encode
from conveyor.contracts.keys import Keys
from conveyor.contracts.statistics import MAX_STATISTICS_RANGE_DAYS
from conveyor.runtime.statistics_store import StatisticsStore
from tests.gateway.helpers import auth, new_user, running_gateway
from tests.runtime.test_statistics_store import statistics
from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace

Client = TestClient[Any, Any]
PATH = "/api/v1/statistics/daily"
DAY = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
async def stats_gateway() -> AsyncIterator[tuple[Client, StatisticsStore]]:
    # Its own namespace, so "no day computed yet" is true whatever other modules cached.
    ns = new_namespace()
    try:
        async with running_gateway(ns) as (gateway, client):
            yield client, StatisticsStore(gateway.redis, Keys(ns))
    finally:
        await delete_redis_keys(ns)
        await delete_rabbit_entities(ns)


def plain(obj: object) -> Any:
    return json.loads(encode(obj))


async def get(client: Client, query: str = "", **headers: str) -> tuple[int, Any]:
    response = await client.get(f"{PATH}{query}", headers=headers or auth(new_user()))
    return response.status, await response.json()


async def test_statistics_read_back_for_the_newest_a_given_and_a_range_of_days(
    stats_gateway: tuple[Client, StatisticsStore],
) -> None:
    client, store = stats_gateway
    status, body = await get(client)
    assert (status, body["error"]["code"]) == (404, "no_statistics")

    first, third = statistics(DAY), statistics(DAY + dt.timedelta(days=2), awards=12)
    for stats in (third, first):  # the older day computed last, as in a backfill
        await store.save(stats, ttl_seconds=600)

    assert await get(client) == (200, plain(third))
    assert await get(client, "?date=2026-10-01") == (200, plain(first))
    status, body = await get(client, "?date=2026-10-02")
    assert status == 404
    assert body["error"]["code"] == "no_statistics"
    assert "2026-10-02" in body["error"]["message"]

    status, body = await get(client, "?from=2026-09-30&to=2026-10-03")
    assert status == 200
    assert body == {
        "start": "2026-09-30",
        "end": "2026-10-03",
        "days": [plain(first), plain(third)],
        "missing": ["2026-09-30", "2026-10-02"],
    }
    last = DAY + dt.timedelta(days=MAX_STATISTICS_RANGE_DAYS - 1)
    status, body = await get(client, f"?from={DAY}&to={last}")
    assert status == 200
    assert len(body["days"]) + len(body["missing"]) == MAX_STATISTICS_RANGE_DAYS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?date=2026-13-01", "date"),
        ("?date=20261001", "date"),
        ("?date=yesterday", "date"),
        ("?date=", "date"),
        ("?from=2026-10-01", "to"),
        ("?to=2026-10-01", "from"),
        ("?from=2026-10-05&to=2026-10-01", "to"),
        (f"?from=2026-10-01&to={DAY + dt.timedelta(days=MAX_STATISTICS_RANGE_DAYS)}", "to"),
        ("?date=2026-10-01&from=2026-10-01&to=2026-10-02", "date"),
        ("?from=2026-02-30&to=2026-03-01", "from"),
    ],
)
async def test_a_bad_date_or_range_is_a_400_naming_the_parameter(
    stats_gateway: tuple[Client, StatisticsStore], query: str, field: str
) -> None:
    status, body = await get(stats_gateway[0], query)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["field"] == field


async def test_any_signed_in_user_may_read_statistics_but_not_an_anonymous_one(
    stats_gateway: tuple[Client, StatisticsStore],
) -> None:
    client, _ = stats_gateway
    status, body = await get(client, "?date=2026-01-01", Authorization="Bearer nonsense")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, _ = await get(client, "?date=2026-01-01", **auth(new_user()))
    assert status == 404


async def test_the_openapi_document_describes_the_statistics_route(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    operation = doc["paths"][PATH]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["date", "from", "to"]
    assert set(operation["responses"]) == {"200", "400", "401", "404"}
    bodies = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert {b["$ref"].rsplit("/", 1)[1] for b in bodies} == {
        "DailyStatistics",
        "DailyStatisticsRange",
    }
    assert operation.get("security") != []  # not public: the document's bearer auth applies
