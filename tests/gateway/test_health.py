"""Health, metrics and the index: the operational endpoints that need no token."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.gateway.helpers import auth, new_user

Client = TestClient[Any, Any]


async def test_health_is_ok_when_redis_and_rabbitmq_answer(client: Client) -> None:
    response = await client.get("/api/v1/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "checks": {"redis": "ok", "rabbitmq": "ok"}}


async def test_health_is_503_naming_rabbitmq_when_the_broker_is_unreachable(
    offline_client: Client,
) -> None:
    response = await offline_client.get("/api/v1/health")
    assert response.status == 503
    body = await response.json()
    assert body["checks"]["rabbitmq"] == "unavailable"
    assert body["checks"]["redis"] == "ok"


async def test_metrics_count_requests_by_route_and_status(client: Client) -> None:
    await client.get("/api/v1/jobs/no-such-job", headers=auth(new_user()))
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert (
        'conveyor_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="404"}'
        in text
    )


async def test_submitted_jobs_are_counted_by_type(client: Client) -> None:
    await client.post("/api/v1/jobs/search", json={"query": "x"}, headers=auth(new_user()))
    text = await (await client.get("/metrics")).text()
    assert 'conveyor_jobs_submitted_total{job_type="search"}' in text


async def test_an_unknown_route_is_a_json_404(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here", headers=auth(new_user()))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_index_page_needs_no_token(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert "/api/v1/openapi.json" in await response.text()
