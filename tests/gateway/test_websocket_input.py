"""Malformed WebSocket input gets an ``error`` frame and the connection stays open."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.gateway.helpers import auth, new_user, receive

Client = TestClient[Any, Any]

DEEP = 30_000  # far beyond the interpreter's recursion limit, within the 64 KiB frame limit

MALFORMED: list[tuple[str, str | bytes]] = [
    ("non-json", "not json"),
    ("empty", ""),
    ("top-level-array", "[1, 2]"),
    ("top-level-null", "null"),
    ("unknown-type", '{"type": "dance"}'),
    ("no-type", '{"job_id": "j"}'),
    ("unknown-field", '{"type": "subscribe", "all": true, "aftr": "0"}'),
    ("unknown-field-in-ping", '{"type": "ping", "x": 1}'),
    ("wrong-type-job-id", '{"type": "subscribe", "job_id": 7}'),
    ("wrong-type-all", '{"type": "subscribe", "all": "yes"}'),
    ("negative-seq", '{"type": "subscribe", "job_id": "j", "after_seq": -1}'),
    ("huge-seq", '{"type": "subscribe", "job_id": "j", "after_seq": 1' + "0" * 30 + "}"),
    ("huge-cursor", '{"type": "subscribe", "all": true, "after": "99999999999999999999999-1"}'),
    (
        "cursor-over-64-bits",
        '{"type": "subscribe", "all": true, "after": "18446744073709551616-0"}',
    ),
    ("not-a-cursor", '{"type": "subscribe", "all": true, "after": "yesterday"}'),
    ("long-cursor", '{"type": "subscribe", "all": true, "after": "' + "1" * 100 + '-0"}'),
    ("bad-job-id", '{"type": "subscribe", "job_id": "../../etc"}'),
    ("deep-array-tag-last", '{"job_id": ' + "[" * DEEP + "]" * DEEP + ', "type": "subscribe"}'),
    ("deep-object", '{"job_id": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + ', "type": "ping"}'),
    ("deep-top-level", "[" * DEEP + "]" * DEEP),
    ("binary-garbage", b"\x00\xff\xfe"),
    ("binary-unknown-field", b'{"type": "unsubscribe", "al": true}'),
    ("bad-fresh-token", '{"type": "auth", "token": "nonsense"}'),
]


@pytest.mark.parametrize(("case", "frame"), MALFORMED, ids=[c for c, _ in MALFORMED])
async def test_malformed_input_gets_an_error_frame_and_the_connection_stays_open(
    client: Client, case: str, frame: str | bytes
) -> None:
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        assert (await receive(ws))["type"] == "welcome"
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)
        reply = await receive(ws)
        assert reply["type"] == "error", reply
        assert reply["code"] in ("invalid_request", "unauthorized", "not_found"), reply
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
        assert not ws.closed


async def test_unknown_fields_are_named_in_the_error(client: Client) -> None:
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        await receive(ws)
        await ws.send_str('{"type": "subscribe", "all": true, "aftr": "0"}')
        reply = await receive(ws)
        assert "aftr" in reply["message"]


async def test_a_binary_frame_holding_a_valid_message_is_answered(client: Client) -> None:
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        await receive(ws)
        await ws.send_bytes(b'{"type": "ping"}')
        assert await receive(ws) == {"type": "pong"}


async def test_deep_nesting_in_the_auth_message_closes_with_4401_not_1011(
    client: Client,
) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str('{"token": ' + "[" * DEEP + "]" * DEEP + ', "type": "auth"}')
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401


async def test_a_frame_over_64_kib_closes_with_1009_not_1011(client: Client) -> None:
    async with client.ws_connect("/ws", headers=auth(new_user())) as ws:
        await receive(ws)
        await ws.send_str('{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 1009
