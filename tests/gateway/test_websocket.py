"""The /ws handshake and protocol basics: authentication, ping, errors, visibility."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.gateway.helpers import auth, new_user, receive, submit, token

Client = TestClient[Any, Any]


async def test_a_bearer_header_authenticates_the_connection(client: Client) -> None:
    user = new_user()
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        welcome = await receive(ws)
        assert welcome == {**welcome, "type": "welcome", "protocol": 1, "user": user}
        assert welcome["expires_at"] > time.time()


async def test_a_first_auth_message_authenticates_the_connection(client: Client) -> None:
    user = new_user()
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "auth", "token": token(user)})
        welcome = await receive(ws)
        assert welcome == {**welcome, "type": "welcome", "protocol": 1, "user": user}
        assert welcome["expires_at"] > time.time()


@pytest.mark.parametrize("how", ["header", "message", "not-auth-first"])
async def test_a_bad_token_closes_the_connection_with_4401(client: Client, how: str) -> None:
    headers = {"Authorization": "Bearer nonsense"} if how == "header" else {}
    async with client.ws_connect("/ws", headers=headers) as ws:
        if how == "message":
            await ws.send_json({"type": "auth", "token": "nonsense"})
        elif how == "not-auth-first":
            await ws.send_json({"type": "ping"})
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401


async def test_a_connection_that_never_authenticates_is_closed_after_5_seconds(
    client: Client,
) -> None:
    async with client.ws_connect("/ws") as ws:
        message = await ws.receive(timeout=8)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401


async def test_ping_is_answered_and_bad_messages_get_an_error_without_closing(
    client: Client,
) -> None:
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        await receive(ws)
        for bad in ("not json", '{"type": "dance"}', '{"type": "subscribe", "job_id": 7}'):
            await ws.send_str(bad)
            reply = await receive(ws)
            assert reply["type"] == "error"
            assert reply["code"] == "invalid_request"
        await ws.send_json({"type": "subscribe", "all": True, "after": "yesterday"})
        assert (await receive(ws))["code"] == "invalid_request"
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_subscribing_to_another_users_job_is_not_found(client: Client) -> None:
    job = await submit(client, new_user())
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        reply = await receive(ws)
        assert reply["type"] == "error"
        assert reply["code"] == "not_found"
        assert reply["job_id"] == job["job_id"]


async def test_an_admin_may_watch_another_users_job(client: Client) -> None:
    job = await submit(client, new_user())
    async with client.ws_connect("/ws", headers=auth(new_user(), admin=True)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        event = await receive(ws)
        assert event["type"] == "event"
        assert event["seq"] == 1
        assert event["event"]["event"] == "job.queued"
        assert await receive(ws) == {"type": "subscribed", "job_id": job["job_id"], "seq": 1}


async def test_a_foreign_origin_is_refused(client: Client) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as excinfo:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert excinfo.value.status == 403


async def test_connections_and_sent_events_are_counted(client: Client) -> None:
    def sample(text: str, name: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith(name + " "))
        return float(line.split()[1])

    user = new_user()
    job = await submit(client, user)
    before = await (await client.get("/metrics")).text()
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        assert (await receive(ws))["type"] == "event"
        await receive(ws)
        during = await (await client.get("/metrics")).text()
    sent = "conveyor_websocket_events_sent_total"
    assert sample(during, sent) == sample(before, sent) + 1
    # Connections of earlier tests may still be closing server-side: only a lower bound.
    assert sample(during, "conveyor_websocket_connections") >= 1
