"""A client that stops reading: it is cut off (4429, then the TCP connection is dropped) while
everyone else on the same gateway keeps getting their events."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

import msgspec

from conveyor.gateway.ws.handler import OPEN_SOCKETS
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import (
    FakeWorker,
    auth,
    new_user,
    receive,
    receive_events,
    receive_until,
    running_gateway,
    submit,
)

BIG_MESSAGE = "x" * 200_000
"""Large events fill the socket buffers of a client that does not read after a few dozen."""


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


async def connect_without_reading(host: str, port: int, user: str) -> socket.socket:
    """A WebSocket client that subscribes to all its jobs and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills quickly
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: {auth(user)['Authorization']}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)
    assert response.startswith(b"HTTP/1.1 101"), response
    subscribe = msgspec.json.encode({"type": "subscribe", "all": True})
    await loop.sock_sendall(sock, _masked_text_frame(subscribe))
    return sock


async def test_a_client_that_stops_reading_is_cut_off_without_delaying_others(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    worker = FakeWorker(store, lifecycle)
    async with running_gateway(namespace, ws_send_queue=16) as (gateway, client):
        slow_user, fast_user = new_user(), new_user()
        slow_job = await submit(client, slow_user)
        fast_job = await submit(client, fast_user)
        host, port = str(client.server.host), int(client.server.port or 0)
        slow = await connect_without_reading(host, port, slow_user)
        try:
            async with client.ws_connect("/ws", headers=auth(fast_user)) as fast:
                await receive(fast)
                await fast.send_json({"type": "subscribe", "job_id": fast_job["job_id"]})
                await receive_until(fast, "subscribed")
                for _ in range(100):
                    if slow_user in gateway.intake.owners:
                        break
                    await asyncio.sleep(0.05)
                assert slow_user in gateway.intake.owners
                await worker.start(slow_job)
                for n in range(60):
                    await worker.progress(slow_job, n, total=1000, message=BIG_MESSAGE)
                # Meanwhile the other user's events flow as usual.
                await worker.start(fast_job)
                for done in range(10):
                    await worker.progress(fast_job, done)
                events = await receive_events(fast, 11, timeout=10)
                assert [m["seq"] for m in events] == list(range(2, 13))
                # The slow connection is closed, its TCP connection dropped, its binding gone.
                sockets = gateway.app[OPEN_SOCKETS]
                for _ in range(400):
                    if len(sockets) == 1 and slow_user not in gateway.intake.owners:
                        break
                    await asyncio.sleep(0.05)
                assert len(sockets) == 1
                assert slow_user not in gateway.intake.owners
                await fast.send_json({"type": "ping"})
                assert (await receive(fast)) == {"type": "pong"}
        finally:
            slow.close()
