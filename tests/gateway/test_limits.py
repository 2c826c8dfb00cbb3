"""Per-user limits at the gateway: submit rate, jobs in flight, WebSocket connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.contracts.jobs import Priority
from conveyor.contracts.keys import Keys
from conveyor.gateway.limits import LIMIT_HEADER
from conveyor.gateway.state import Gateway
from conveyor.gateway.ws.protocol import CLOSE_TOO_MANY_CONNECTIONS
from tests.gateway.helpers import auth, new_user, running_gateway

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
async def rate_limited(namespace: str) -> AsyncIterator[tuple[Gateway, Client]]:
    # A slow refill, so the burst is all a test gets.
    async with running_gateway(namespace, submit_rate=0.01, submit_burst=3) as pair:
        yield pair


@pytest.fixture(scope="module")
async def limited(namespace: str) -> AsyncIterator[tuple[Gateway, Client]]:
    async with running_gateway(namespace, max_jobs_in_flight=2, max_websockets=2) as pair:
        yield pair


async def _submit(client: Client, user: str, *, admin: bool = False) -> Any:
    return await client.post("/api/v1/jobs/diagnostics", json={}, headers=auth(user, admin=admin))


async def test_a_user_past_the_burst_gets_429_naming_the_limit_with_retry_after(
    rate_limited: tuple[Gateway, Client],
) -> None:
    gateway, client = rate_limited
    user = new_user()
    statuses = []
    for _ in range(3):
        statuses.append((await _submit(client, user)).status)
    assert statuses == [202, 202, 202]
    refused = await _submit(client, user)
    assert refused.status == 429
    assert refused.headers[LIMIT_HEADER] == "submit_rate"
    assert int(refused.headers["Retry-After"]) >= 1
    error = (await refused.json())["error"]
    assert error["code"] == "rate_limited"
    assert "CONVEYOR_SUBMIT_RATE" in error["message"]
    refusals = gateway.metrics.registry.get_sample_value(
        "conveyor_limit_refusals_total", {"limit": "submit_rate"}
    )
    assert refusals == 1
    # Another user has a bucket of their own; admins have none.
    assert (await _submit(client, new_user())).status == 202
    admin = new_user()
    for _ in range(5):
        assert (await _submit(client, admin, admin=True)).status == 202


async def test_jobs_in_flight_are_capped_and_a_finished_job_frees_its_slot(
    limited: tuple[Gateway, Client],
) -> None:
    gateway, client = limited
    user = new_user()
    first, second = [await _submit(client, user) for _ in range(2)]
    assert (first.status, second.status) == (202, 202)
    refused = await _submit(client, user)
    assert refused.status == 429
    assert refused.headers[LIMIT_HEADER] == "max_jobs_in_flight"
    assert "at most 2" in (await refused.json())["error"]["message"]
    # Cancelling is one of the final states: its transition frees the slot.
    job_id = (await first.json())["job_id"]
    cancelled = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(user))
    assert cancelled.status == 200, await cancelled.text()
    assert await gateway.limits.store.in_flight(user) == 1
    assert (await _submit(client, user)).status == 202
    assert await gateway.limits.store.in_flight(user) == 2


async def test_a_refused_submit_frees_its_idempotency_key(
    limited: tuple[Gateway, Client],
) -> None:
    _, client = limited
    user = new_user()
    for _ in range(2):
        assert (await _submit(client, user)).status == 202
    headers = auth(user, **{"Idempotency-Key": "k1"})
    refused = await client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    assert refused.status == 429
    again = await client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    assert again.status == 429  # still refused by the limit, not a 409 for a stuck key
    assert again.headers[LIMIT_HEADER] == "max_jobs_in_flight"


async def test_a_rate_refused_submit_leaves_its_idempotency_key_free(
    rate_limited: tuple[Gateway, Client], redis: Redis, keys: Keys
) -> None:
    _, client = rate_limited
    user = new_user()
    for _ in range(3):
        assert (await _submit(client, user)).status == 202
    headers = auth(user, **{"Idempotency-Key": "rate-k"})
    refused = await client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    assert refused.status == 429
    assert refused.headers[LIMIT_HEADER] == "submit_rate"
    # Not reserved: the retry (once a token is there) queues the job, it does not wait on a
    # request that never ran.
    assert await redis.exists(keys.idempotency(user, "rate-k")) == 0


async def test_websocket_connections_per_user_are_capped_and_freed_on_disconnect(
    limited: tuple[Gateway, Client],
) -> None:
    gateway, client = limited
    user = new_user()
    first = await client.ws_connect("/ws", headers=auth(user))
    second = await client.ws_connect("/ws", headers=auth(user))
    for ws in (first, second):
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
    third = await client.ws_connect("/ws", headers=auth(user))
    closing = await third.receive(timeout=5)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == CLOSE_TOO_MANY_CONNECTIONS
    assert "CONVEYOR_MAX_WEBSOCKETS" in closing.extra
    await third.close()
    # Another user is not affected.
    async with client.ws_connect("/ws", headers=auth(new_user())) as other:
        assert (await other.receive_json(timeout=5))["type"] == "welcome"
    await first.close()
    # The handler releases its lease as it finishes: wait for that, polling the store.
    async with asyncio.timeout(5):
        while await gateway.limits.store.connections(user) >= 2:
            await asyncio.sleep(0.01)
    fourth = await client.ws_connect("/ws", headers=auth(user))
    assert (await fourth.receive_json(timeout=5))["type"] == "welcome"
    await fourth.close()
    await second.close()


async def test_admins_may_hold_more_websockets_than_the_limit(
    limited: tuple[Gateway, Client],
) -> None:
    _, client = limited
    admin = new_user()
    sockets = [await client.ws_connect("/ws", headers=auth(admin, admin=True)) for _ in range(3)]
    for ws in sockets:
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
    for ws in sockets:
        await ws.close()


async def test_a_users_jobs_past_the_first_few_in_flight_are_queued_at_bulk_priority(
    module_namespace: str,
) -> None:
    async with running_gateway(module_namespace, interactive_in_flight=2) as (gateway, client):
        user, admin = new_user(), new_user()
        ids = [(await (await _submit(client, user)).json())["job_id"] for _ in range(4)]
        admins = [
            (await (await _submit(client, admin, admin=True)).json())["job_id"] for _ in range(3)
        ]
        channel = await gateway.broker.open_channel()
        queue = await channel.get_queue(
            gateway.broker.topology.service_queue("maintenance"), ensure=False
        )
        priorities = {}
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            priorities[message.message_id] = message.priority
        await channel.close()
        record = await gateway.store.get(ids[-1])
    interactive, bulk = Priority.INTERACTIVE.amqp_priority, Priority.BULK.amqp_priority
    assert [priorities[i] for i in ids] == [interactive, interactive, bulk, bulk]
    assert [priorities[i] for i in admins] == [interactive] * 3, "admins are not counted"
    assert record is not None and record.priority == Priority.INTERACTIVE, "the record keeps it"
