"""A client that stops reading: it is cut off (4429, then the TCP connection is dropped) while
everyone else on the same gateway keeps getting their events."""

from __future__ import annotations

import asyncio
import socket

import msgspec

from conveyor.gateway.ws.handler import OPEN_SOCKETS
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import (
    FakeWorker,
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

BIG_MESSAGE = "x" * 200_000
"""Large events fill the socket buffers of a client that does not read after a few dozen."""


async def connect_without_reading(host: str, port: int, user: str) -> socket.socket:
    """A WebSocket client that subscribes to all its jobs and then never reads again."""
    sock, _ = await raw_websocket(host, port, user)
    subscribe = msgspec.json.encode({"type": "subscribe", "all": True})
    await asyncio.get_running_loop().sock_sendall(sock, masked_text_frame(subscribe))
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
