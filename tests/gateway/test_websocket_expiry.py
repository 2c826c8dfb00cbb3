"""A WebSocket lasts as long as its token (ws.token_expiry): 4401 at expiry, unless refreshed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, FakeWorker, new_user, receive, receive_until, submit

Client = TestClient[Any, Any]


def short_lived(user: str, seconds: int = 2, roles: tuple[str, ...] = ()) -> str:
    return mint_token(SECRET, user, roles=roles, ttl_seconds=seconds)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def close_code(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> int:
    """Read until the server's close frame and return its code; fail on any other message."""
    async with asyncio.timeout(timeout):
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE, message
    code: int = message.data
    return code


async def test_a_connection_closes_with_4401_when_its_token_expires(client: Client) -> None:
    user = new_user()
    token = short_lived(user)
    async with client.ws_connect("/ws", headers=bearer(token)) as ws:
        welcome = await receive(ws)
        assert welcome["type"] == "welcome"
        assert await close_code(ws, timeout=welcome["expires_at"] - time.time() + 3) == 4401
        assert time.time() >= welcome["expires_at"] - 0.1


async def test_an_expired_connection_gets_no_more_events(
    client: Client, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    async with client.ws_connect("/ws", headers=bearer(short_lived(user))) as ws:
        welcome = await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        await receive_until(ws, "subscribed")
        await asyncio.sleep(max(0.0, welcome["expires_at"] - time.time()) + 0.2)
        await worker.start(job)
        # The next message is the close frame: no event for an expired token.
        assert await close_code(ws, timeout=5) == 4401


async def test_a_fresh_token_sent_in_time_keeps_the_connection_open(client: Client) -> None:
    user = new_user()
    async with client.ws_connect("/ws", headers=bearer(short_lived(user))) as ws:
        welcome = await receive(ws)
        fresh = short_lived(user, 3600)
        await ws.send_json({"type": "auth", "token": fresh})
        reply = await receive(ws)
        assert reply["type"] == "authenticated"
        assert reply["expires_at"] > welcome["expires_at"] + 3000
        # Past the first token's expiry the connection still answers.
        await asyncio.sleep(max(0.0, welcome["expires_at"] - time.time()) + 1.0)
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_a_fresh_token_for_another_user_is_refused_and_the_old_expiry_stands(
    client: Client,
) -> None:
    user = new_user()
    async with client.ws_connect("/ws", headers=bearer(short_lived(user))) as ws:
        welcome = await receive(ws)
        for token in (
            short_lived(new_user(), 3600),
            short_lived(user, 3600, roles=("admin",)),
            short_lived(user, -10),
            "nonsense",
        ):
            await ws.send_json({"type": "auth", "token": token})
            reply = await receive(ws)
            assert reply["type"] == "error", reply
            assert reply["code"] in ("forbidden", "unauthorized")
        assert await close_code(ws, timeout=welcome["expires_at"] - time.time() + 3) == 4401
