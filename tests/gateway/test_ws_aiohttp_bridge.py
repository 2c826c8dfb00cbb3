"""The aiohttp bridge: pre-built frames carry the header RFC 6455 asks for at each payload
length, and frames written past aiohttp's writer reach a real client whole and in order among
aiohttp's own, in both transport modes."""

from __future__ import annotations

import struct
from typing import Literal

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestServer

from conveyor.gateway.ws.aiohttp_bridge import DirectWriter, direct_transport, text_frame


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e" + struct.pack("!H", 126)),
        (65535, b"\x81\x7e" + struct.pack("!H", 65535)),
        (65536, b"\x81\x7f" + struct.pack("!Q", 65536)),
    ],
)
def test_a_text_frame_is_final_unmasked_and_carries_its_length(size: int, header: bytes) -> None:
    payload = b"x" * size
    assert text_frame(payload) == header + payload


# -- against a real aiohttp server, in both modes ----------------------------------------------

PAYLOADS = [b"", b"x" * 125, "é".encode() * 200, b"y" * 70_000]


async def _serve_and_read(
    transport: Literal["fast", "plain"], *, compress: bool
) -> tuple[list[str], int]:
    """Send PAYLOADS between two ``send_str`` messages, directly where the bridge allows."""
    direct_writes = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal direct_writes
        ws = web.WebSocketResponse(compress=compress)
        await ws.prepare(request)
        writer = DirectWriter(ws, direct_transport(request, transport))
        await ws.send_str("first")
        for payload in PAYLOADS:
            if writer.ready():
                writer.write(text_frame(payload))
                direct_writes += 1
            else:
                await ws.send_frame(payload, WSMsgType.TEXT)
        await ws.send_str("last")
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    async with (
        TestServer(app) as server,
        ClientSession() as session,
        session.ws_connect(server.make_url("/ws"), compress=15 if compress else 0) as ws,
    ):
        received = [msg.data async for msg in ws if msg.type is WSMsgType.TEXT]
    return received, direct_writes


@pytest.mark.parametrize("transport", ["fast", "plain"])
@pytest.mark.parametrize("compress", [False, True])
async def test_frames_arrive_whole_and_in_order_in_both_modes(
    transport: Literal["fast", "plain"], compress: bool
) -> None:
    received, direct_writes = await _serve_and_read(transport, compress=compress)
    assert received == ["first", *(p.decode() for p in PAYLOADS), "last"]
    if transport == "plain" or compress:
        # Plain mode never writes past aiohttp; nor does fast mode on a deflating connection.
        assert direct_writes == 0
    else:
        assert direct_writes >= 1  # the first write after a drained send goes direct
