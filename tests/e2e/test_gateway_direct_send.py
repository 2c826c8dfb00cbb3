"""Live events written straight to steady connections as pre-built frames, and the fall back
to each connection's task when it is busy or backpressured: order, completeness, sizes."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import msgspec

from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import (
    FakeWorker,
    assert_nothing_more,
    auth,
    masked_text_frame,
    new_user,
    raw_websocket,
    receive,
    receive_events,
    receive_until,
    running_gateway,
    submit,
)


async def test_events_of_every_size_reach_a_client_that_offered_compression_intact(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    messages = ["small", "m" * 300, "b" * 100_000]  # each frame-length encoding
    async with running_gateway(namespace) as (gateway, client):
        user = new_user()
        job = await submit(client, user)
        worker = FakeWorker(store, lifecycle)
        await worker.start(job)
        # aiohttp's client offers permessage-deflate; the gateway declines it.
        async with client.ws_connect("/ws", headers=auth(user)) as ws:
            assert ws.compress == 0
            await receive(ws)
            await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": 2})
            await receive_until(ws, "subscribed")
            await ws.send_json({"type": "subscribe", "all": True})
            await receive_until(ws, "subscribed")
            for done, message in enumerate(messages, start=1):
                await worker.progress(job, done, total=1000, message=message)
            events = await receive_events(ws, 2 * len(messages), timeout=10)
            by_job = [(e["seq"], e["event"]["message"]) for e in events if "seq" in e]
            by_cursor = [e["event"]["message"] for e in events if "seq" not in e]
            assert by_job == list(enumerate(messages, start=3))
            assert by_cursor == messages
            await assert_nothing_more(ws, gateway, gateway.lifecycle, lifecycle)


class RawClient:
    """A WebSocket client on a plain socket with a tiny receive buffer: it reads when told."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, host: str, port: int, user: str) -> RawClient:
        sock, rest = await raw_websocket(host, port, user)
        client = cls(sock)
        client.buffer = bytearray(rest)
        return client

    async def send(self, message: dict[str, Any]) -> None:
        frame = masked_text_frame(msgspec.json.encode(message))
        await asyncio.get_running_loop().sock_sendall(self.sock, frame)

    async def receive(self) -> dict[str, Any]:
        """The next text frame's JSON (the server sends no other kind here)."""
        loop = asyncio.get_running_loop()
        while True:
            parsed = self._parse()
            if parsed is not None:
                message: dict[str, Any] = msgspec.json.decode(parsed)
                return message
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), 10)
            assert chunk, "the gateway closed the connection"
            self.buffer += chunk

    def _parse(self) -> bytes | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        assert buf[0] == 0x81, buf[:2]
        length, start = buf[1], 2
        if length == 126:
            length, start = struct.unpack("!H", buf[2:4])[0], 4
        elif length == 127:
            length, start = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < start + length:
            return None
        payload = bytes(buf[start : start + length])
        del buf[: start + length]
        return payload


async def test_a_backpressured_connection_gets_every_event_in_order_once_it_reads_again(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    big = "x" * 100_000  # a few of these fill the socket buffers of a client not reading
    async with running_gateway(namespace) as (_, client):
        user = new_user()
        job = await submit(client, user)
        worker = FakeWorker(store, lifecycle)
        await worker.start(job)
        host, port = str(client.server.host), int(client.server.port or 0)
        raw = await RawClient.connect(host, port, user)
        try:
            assert (await raw.receive())["type"] == "welcome"
            await raw.send({"type": "subscribe", "job_id": job["job_id"], "after_seq": 2})
            assert (await raw.receive()) == {
                "type": "subscribed",
                "job_id": job["job_id"],
                "seq": 2,
            }
            # Not reading: the first events fill the buffers, the next wait in the inbox.
            done = 0
            for _ in range(20):
                done += 1
                await worker.progress(job, done, total=1000, message=big)
            received: list[dict[str, Any]] = []

            async def read(count: int) -> None:
                while len(received) < count:
                    received.append(await raw.receive())

            # Reading again while more events come, big and small: some find the buffer
            # empty again, while the inbox may still hold earlier ones.
            reader = asyncio.create_task(read(60))
            for n in range(40):
                done += 1
                await worker.progress(job, done, total=1000, message=big if n % 2 else "small")
            await asyncio.wait_for(reader, 30)
            assert [m["type"] for m in received] == ["event"] * 60
            assert [m["seq"] for m in received] == list(range(3, 63))
            assert [m["event"]["done"] for m in received] == list(range(1, 61))
            # Steady again: a ping is answered right after the last event, nothing else came.
            await raw.send({"type": "ping"})
            assert (await raw.receive()) == {"type": "pong"}
        finally:
            raw.sock.close()
