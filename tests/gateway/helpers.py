"""Running a gateway in-process on the real RabbitMQ and Redis, and acting as its users."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import socket
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer

from conveyor.contracts.events import (
    JobEvent,
    JobProgressed,
    JobQueued,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.jobs import AnyJobRequest, JobEnvelope, Priority
from conveyor.contracts.records import JobState
from conveyor.gateway.bootstrap import bootstrap
from conveyor.gateway.state import Gateway
from conveyor.gateway.ws.intake import LiveEvent, Resync
from conveyor.runtime.jobstore import Appended, JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.settings import GatewaySettings, load_settings
from conveyor.runtime.tokens import mint_token
from tests.support.namespace import AMQP_URL, REDIS_URL

SECRET = "gateway-tests-secret-of-32-bytes-or-more"
UNREACHABLE_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"


def gateway_settings(namespace: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "namespace": namespace,
        "http_port": 0,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "jwt_secret": SECRET,
        "test_hooks": True,
        "instance": f"test-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    return load_settings(GatewaySettings, {}, **values)


@contextlib.asynccontextmanager
async def running_gateway(
    namespace: str, *, wait_for_broker: bool = True, **overrides: Any
) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    """A gateway app built by ``bootstrap`` and served by aiohttp's test server."""
    async with bootstrap(gateway_settings(namespace, **overrides)) as gateway:
        if wait_for_broker:
            await asyncio.wait_for(gateway.intake.ready.wait(), 15)
        async with TestClient(TestServer(gateway.app)) as client:
            yield gateway, client


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def token(user: str, *, admin: bool = False) -> str:
    return mint_token(SECRET, user, roles=("admin",) if admin else ())


def auth(user: str, *, admin: bool = False, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, admin=admin)}", **extra}


async def submit(
    client: TestClient[Any, Any], user: str, job_type: str = "diagnostics", body: Any = None
) -> dict[str, Any]:
    response = await client.post(f"/api/v1/jobs/{job_type}", json=body or {}, headers=auth(user))
    assert response.status == 202, await response.text()
    result: dict[str, Any] = await response.json()
    return result


# -- acting as a worker (none exists yet): record transitions, then announce them ------------


class FakeWorker:
    """Drives a job through its states the way the worker harness will."""

    def __init__(self, store: JobStore, lifecycle: JobLifecycle) -> None:
        self.store = store
        self.lifecycle = lifecycle

    async def start(self, record: dict[str, Any], *, announce: bool = True) -> Appended:
        envelope = JobEnvelope(
            request=msgspec.convert(record["request"], AnyJobRequest),
            job_id=record["job_id"],
            owner=record["owner"],
            priority=Priority(record["priority"]),
            # The job's own creation time: another one would make it another job's envelope.
            created_at=dt.datetime.fromisoformat(record["created_at"]),
        )
        started = await self.store.start(
            envelope,
            JobQueued(**_base(record)),
            JobStarted(**_base(record), worker="fake"),
            worker="fake",
            max_crashes=3,
            trace_id=None,
        )
        assert started.started is not None, started
        if announce:
            self.lifecycle.announce(JobStarted(**_base(record), worker="fake"), started.started)
        return started.started

    async def progress(
        self,
        record: dict[str, Any],
        done: int,
        *,
        total: int = 100,
        message: str | None = None,
        announce: bool = True,
    ) -> Appended:
        event = JobProgressed(**_base(record), done=done, total=total, message=message)
        return await self._transition(record, event, JobState.RUNNING, announce=announce)

    async def succeed(self, record: dict[str, Any], *, announce: bool = True) -> Appended:
        event = JobSucceeded(**_base(record))
        return await self._transition(record, event, JobState.SUCCEEDED, announce=announce)

    async def _transition(
        self, record: dict[str, Any], event: JobEvent, to: JobState, *, announce: bool
    ) -> Appended:
        outcome = await self.store.transition(
            record["job_id"], record["owner"], allowed=[JobState.RUNNING], to=to, event=event
        )
        assert outcome.ok and outcome.event is not None, outcome
        if announce:
            self.lifecycle.announce(event, outcome.event)
        return outcome.event


def _base(record: dict[str, Any]) -> dict[str, str]:
    return {"job_id": record["job_id"], "job_type": record["job_type"], "owner": record["owner"]}


# -- WebSocket ---------------------------------------------------------------------------------


async def receive(ws: ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=timeout)
    return message


async def receive_until(
    ws: ClientWebSocketResponse, message_type: str, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Every message up to and including the first of ``message_type``."""
    messages = []
    while True:
        message = await receive(ws, timeout)
        messages.append(message)
        if message["type"] == message_type:
            return messages


async def receive_events(
    ws: ClientWebSocketResponse, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    events = []
    while len(events) < count:
        message = await receive(ws, timeout)
        assert message["type"] == "event", message
        events.append(message)
    return events


class _MarkerSeen:
    """An intake listener that notices one marker event."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.seen = asyncio.Event()

    def offer(self, item: LiveEvent | Resync) -> None:
        if isinstance(item, LiveEvent) and item.job_id == self.job_id:
            self.seen.set()


async def through_intake(gateway: Gateway, *publishers: JobLifecycle, timeout: float = 10.0) -> int:
    """Return once ``gateway``'s event queue has delivered everything ``publishers`` announced
    so far; the number of marker messages that took (they count in ``intake.received``).

    Each publisher announces a marker event after its earlier announcements (in order on its
    channel, to the same queue), for an owner of its own that only a listener here watches:
    when the intake hands the markers over, it has handed over everything before them.
    """
    owner = f"marker-{uuid.uuid4().hex[:8]}"
    listeners = []
    for publisher in publishers:
        job_id = f"marker-{uuid.uuid4().hex}"
        listener = _MarkerSeen(job_id)
        await gateway.intake.acquire(owner, listener)
        listeners.append(listener)
        event = JobProgressed(job_id=job_id, job_type="diagnostics", owner=owner)
        body = msgspec.json.encode(event)
        publisher.announce(event, Appended(seq=1, cursor="0-1", prev_cursor="0-0", body=body))
    try:
        async with asyncio.timeout(timeout):
            for listener in listeners:
                await listener.seen.wait()
    finally:
        for listener in listeners:
            await gateway.intake.release(owner, listener, all_of_it=True)
    return len(listeners)


async def assert_nothing_more(
    ws: ClientWebSocketResponse, gateway: Gateway, *publishers: JobLifecycle
) -> None:
    """Nothing more arrives on ``ws`` (e.g. no duplicate) from what ``publishers`` announced
    so far (the gateway's own lifecycle among them when it announced something, e.g. a submit).

    Once the intake has handed over everything announced (``through_intake``), anything the
    session will send is in its inbox or on the socket already; a ping, answered in order
    after it, must then be the very next message.
    """
    await through_intake(gateway, *publishers)
    await ws.send_json({"type": "ping"})
    assert (await receive(ws)) == {"type": "pong"}


# -- a raw WebSocket client, for tests that control exactly when the client reads -------------


async def raw_websocket(host: str, port: int, user: str) -> tuple[socket.socket, bytes]:
    """Open ``/ws`` on a plain non-blocking socket with a tiny receive buffer (so backpressure
    comes soon); returns the socket and the bytes read past the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
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
        response += await loop.sock_recv(sock, 4096)
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, rest


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (clients must mask) for a payload under 64 KiB."""
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body
