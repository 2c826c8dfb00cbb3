"""POST /api/v1/jobs/{type} against the real RabbitMQ and Redis."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import job_routing_key
from conveyor.gateway.state import Gateway
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, auth, new_user

Client = TestClient[Any, Any]


async def test_a_submitted_job_is_accepted_recorded_as_queued_and_located(
    client: Client, store: JobStore
) -> None:
    user = new_user()
    response = await client.post(
        "/api/v1/jobs/diagnostics", json={"numbers": [1, 2]}, headers=auth(user)
    )
    assert response.status == 202
    body = await response.json()
    assert body["state"] == "queued"
    assert body["owner"] == user
    assert body["priority"] == "interactive"
    assert body["request"] == {
        "type": "diagnostics",
        "numbers": [1.0, 2.0],
        "sleep_seconds": 0.0,
        "steps": 1,
        "fail_attempts": 0,
        "crash_deliveries": 0,
    }
    assert response.headers["Location"] == f"/api/v1/jobs/{body['job_id']}"
    record = await store.get(body["job_id"])
    assert record is not None
    assert record.state == "queued"
    assert record.last_seq == 1


async def test_an_empty_body_means_every_default(client: Client) -> None:
    response = await client.post(
        "/api/v1/jobs/maintenance.cleanup_exports", headers=auth(new_user(), admin=True)
    )
    assert response.status == 202, await response.text()
    assert (await response.json())["job_type"] == "maintenance.cleanup_exports"


async def test_a_body_may_repeat_its_own_type_tag_but_not_another(client: Client) -> None:
    user = new_user()
    same = await client.post("/api/v1/jobs/export", json={"type": "export"}, headers=auth(user))
    assert same.status == 202
    other = await client.post("/api/v1/jobs/export", json={"type": "search"}, headers=auth(user))
    assert other.status == 400
    assert (await other.json())["error"]["field"] == "$.type"


async def test_the_same_idempotency_key_twice_gives_one_job(
    client: Client, redis: Redis, keys: Keys
) -> None:
    user = new_user()
    headers = auth(user, **{"Idempotency-Key": "order-42"})
    first = await client.post("/api/v1/jobs/diagnostics", json={"numbers": [1]}, headers=headers)
    # Same request spelled differently (defaults written out) is the same request.
    second = await client.post(
        "/api/v1/jobs/diagnostics", json={"steps": 1, "numbers": [1.0]}, headers=headers
    )
    assert first.status == second.status == 202
    assert (await first.json())["job_id"] == (await second.json())["job_id"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await redis.zcard(keys.owner_jobs(user)) == 1


async def test_an_idempotency_key_reused_with_another_body_is_a_conflict(client: Client) -> None:
    headers = auth(new_user(), **{"Idempotency-Key": "k1"})
    first = await client.post("/api/v1/jobs/diagnostics", json={"numbers": [1]}, headers=headers)
    assert first.status == 202
    second = await client.post("/api/v1/jobs/diagnostics", json={"numbers": [2]}, headers=headers)
    assert second.status == 409
    assert (await second.json())["error"]["code"] == "conflict"


async def test_idempotency_keys_belong_to_their_user(client: Client) -> None:
    key = {"Idempotency-Key": "shared"}
    a = await client.post("/api/v1/jobs/diagnostics", headers=auth(new_user(), **key))
    b = await client.post("/api/v1/jobs/diagnostics", headers=auth(new_user(), **key))
    assert (await a.json())["job_id"] != (await b.json())["job_id"]


async def test_an_overlong_idempotency_key_is_refused(client: Client) -> None:
    headers = auth(new_user(), **{"Idempotency-Key": "x" * 201})
    response = await client.post("/api/v1/jobs/diagnostics", headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "Idempotency-Key"


async def test_a_request_without_a_token_is_unauthorized(client: Client) -> None:
    response = await client.post("/api/v1/jobs/diagnostics", json={})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Bearer " + mint_token("some-other-secret-of-32-bytes-or-more", "mallory"),
        "Bearer " + mint_token(SECRET, "late", ttl_seconds=-10),
        "Basic dXNlcjpwYXNz",
    ],
    ids=["garbage", "wrong-secret", "expired", "not-bearer"],
)
async def test_a_bad_token_is_unauthorized(client: Client, header: str) -> None:
    response = await client.get("/api/v1/jobs", headers={"Authorization": header})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_malformed_json_is_a_bad_request(client: Client) -> None:
    response = await client.post(
        "/api/v1/jobs/diagnostics",
        data=b'{"numbers": [1,',
        headers=auth(new_user(), **{"Content-Type": "application/json"}),
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("job_type", "body", "field"),
    [
        ("diagnostics", {"numbers": "seven"}, "$.numbers"),
        ("diagnostics", {"steps": 0}, "$.steps"),
        ("export", {"format": "pdf"}, "$.format"),
        (
            "export",
            {"filters": {"time_ranges": [{"start": "2024-02-01", "end": "2024-01-01"}]}},
            "$.filters.time_ranges[0]",
        ),
        ("search", [], None),
    ],
)
async def test_a_field_of_the_wrong_type_is_a_bad_request_naming_the_field(
    client: Client, job_type: str, body: Any, field: str | None
) -> None:
    response = await client.post(f"/api/v1/jobs/{job_type}", json=body, headers=auth(new_user()))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field


async def test_an_oversized_body_is_refused_with_413(client: Client) -> None:
    big = b'{"numbers": [' + b"1," * 600_000 + b"1]}"
    response = await client.post(
        "/api/v1/jobs/diagnostics",
        data=big,
        headers=auth(new_user(), **{"Content-Type": "application/json"}),
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_an_oversized_chunked_body_is_refused_with_413(client: Client) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 20_000

    response = await client.post(
        "/api/v1/jobs/diagnostics",
        data=chunks(),
        headers=auth(new_user(), **{"Content-Type": "application/json"}),
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_a_body_that_is_not_json_is_an_unsupported_media_type(client: Client) -> None:
    response = await client.post(
        "/api/v1/jobs/diagnostics",
        data="numbers=1",
        headers=auth(new_user(), **{"Content-Type": "text/plain"}),
    )
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_media_type"


async def test_an_unknown_job_type_is_not_found(client: Client) -> None:
    response = await client.post("/api/v1/jobs/mine_bitcoin", json={}, headers=auth(new_user()))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "unknown_job_type"


async def test_priority_comes_from_its_header_and_scheduled_is_for_admins(client: Client) -> None:
    user = new_user()
    bulk = await client.post(
        "/api/v1/jobs/diagnostics", headers=auth(user, **{"X-Conveyor-Priority": "bulk"})
    )
    assert (await bulk.json())["priority"] == "bulk"
    scheduled = {"X-Conveyor-Priority": "scheduled"}
    refused = await client.post("/api/v1/jobs/diagnostics", headers=auth(user, **scheduled))
    assert refused.status == 403
    admitted = await client.post(
        "/api/v1/jobs/diagnostics", headers=auth(user, admin=True, **scheduled)
    )
    assert (await admitted.json())["priority"] == "scheduled"
    wrong = await client.post(
        "/api/v1/jobs/diagnostics", headers=auth(user, **{"X-Conveyor-Priority": "urgent"})
    )
    assert wrong.status == 400
    assert (await wrong.json())["error"]["field"] == "X-Conveyor-Priority"


async def test_a_submit_the_broker_cannot_take_is_a_503_that_records_nothing(
    offline_client: Client, redis: Redis, keys: Keys
) -> None:
    user = new_user()
    headers = auth(user, **{"Idempotency-Key": "try-1"})
    response = await offline_client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (await response.json())["error"]["code"] == "broker_unavailable"
    assert await redis.zcard(keys.owner_jobs(user)) == 0
    assert await redis.exists(keys.owner_events(user)) == 0
    # The key was released: a retry is a new attempt, not a replay of nothing.
    assert await redis.exists(keys.idempotency(user, "try-1")) == 0


async def test_a_submit_the_broker_returns_is_a_503_whose_record_is_taken_back(
    gateway: Gateway, client: Client, redis: Redis, keys: Keys
) -> None:
    # Connected, so the record is written during the publish; no queue takes the job, so the
    # broker returns it (a refusal) and the record, its event and its slot are taken back.
    user = new_user()
    t = gateway.broker.topology
    channel = await gateway.broker.open_channel()
    queue = await channel.get_queue(t.service_queue("maintenance"), ensure=True)
    await queue.unbind(t.jobs, job_routing_key("diagnostics"))
    try:
        response = await client.post("/api/v1/jobs/diagnostics", json={}, headers=auth(user))
    finally:
        await queue.bind(t.jobs, job_routing_key("diagnostics"))
        await channel.close()
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "broker_unavailable"
    assert await redis.zcard(keys.owner_jobs(user)) == 0
    assert await redis.exists(keys.owner_events(user)) == 0
    assert await redis.zcard(keys.jobs_in_flight(user)) == 0


async def test_bad_input_never_yields_a_server_error(client: Client) -> None:
    headers = auth(new_user(), **{"Content-Type": "application/json"})
    for body in (b"null", b"1", b'"x"', b"\xff\xfe", b"{}}", b'{"numbers": [1e999]}'):
        response = await client.post("/api/v1/jobs/diagnostics", data=body, headers=headers)
        assert response.status < 500, (body, response.status)


async def test_a_submit_continues_the_callers_trace_into_the_job(
    client: Client, store: JobStore
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = auth(new_user(), traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    response = await client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    job_id = (await response.json())["job_id"]
    record = await store.get(job_id)
    assert record is not None
    assert record.trace_id == trace_id
