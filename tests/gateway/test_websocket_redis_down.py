"""A WebSocket the gateway cannot take while Redis is unreachable (its connection lease is kept
there) is closed with 1011, as WEBSOCKET.md documents, so the client reconnects and resumes.

Seen in ``tests/sentinel`` during a master's failover: the lease's write failed after the
upgrade, and the exception put an HTTP 503 on the socket, which the client read as a broken
frame (1002) instead of a close it knows to resume from.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType

from tests.gateway.helpers import auth, new_user, running_gateway
from tests.support.private_redis import private_redis


@pytest.mark.parametrize("transport", ["fast", "plain"])
async def test_a_websocket_opened_while_redis_is_down_is_closed_with_1011(
    namespace: str, transport: str
) -> None:
    user = new_user()
    async with (
        private_redis() as redis,
        running_gateway(namespace, redis_url=redis.url, transport=transport) as (_, client),
    ):
        await redis.kill()
        async with client.ws_connect("/ws", headers=auth(user)) as ws:
            message = await asyncio.wait_for(ws.receive(), 20)
            assert message.type is WSMsgType.CLOSE, message
            assert ws.close_code == 1011
            assert message.extra == "internal error: reconnect and resume"
        # Once Redis is back, the reconnection the close asks for is served.
        await redis.start()
        async with client.ws_connect("/ws", headers=auth(user)) as ws:
            welcome = await asyncio.wait_for(ws.receive_json(), 20)
            assert welcome["type"] == "welcome"
            await ws.send_json({"type": "subscribe", "all": True})
            subscribed = await asyncio.wait_for(ws.receive_json(), 20)
            assert subscribed["type"] == "subscribed", subscribed
