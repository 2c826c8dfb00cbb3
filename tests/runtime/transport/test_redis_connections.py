"""The services' Redis client on the real Redis, in both modes: commands and scripts, a task
cancelled in the middle of a command always ends, connections the server closed are replaced,
a stalled server fails commands in time, and a vanished host is found by TCP too."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.transport.redis_connections import (
    CONNECT_TIMEOUT,
    DEAD_PEER_SECONDS,
    SOCKET_TIMEOUT,
    TimedWritesConnection,
    TimedWritesSSLConnection,
    TransportMode,
    redis_from_url,
    transport_of,
)
from tests.support.namespace import REDIS_URL
from tests.support.private_redis import private_redis


@pytest.fixture
async def client(transport: TransportMode) -> AsyncIterator[Redis]:
    redis = open_redis(REDIS_URL, transport=transport)
    yield redis
    await redis.aclose()


async def test_a_client_is_opened_in_the_mode_asked_for(transport: TransportMode) -> None:
    for url in (REDIS_URL, REDIS_URL.replace("redis://", "rediss://")):
        client = open_redis(url, transport=transport)  # connects lazily: nothing to reach
        assert transport_of(client) == transport
        await client.aclose()


async def test_commands_round_trip_every_kind_of_argument(client: Redis, namespace: str) -> None:
    key = f"{namespace}:transport:{uuid.uuid4().hex}"
    fields: dict[str | bytes, str | bytes | int | float] = {
        "text": "é ü \r\n",
        "bytes": b"\x00\xff",
        "int": 7,
        "float": 1.5,
        "empty": "",
    }
    try:
        assert await client.hset(key, mapping=fields) == len(fields)
        assert await client.hgetall(key) == {
            b"text": "é ü \r\n".encode(),
            b"bytes": b"\x00\xff",
            b"int": b"7",
            b"float": b"1.5",
            b"empty": b"",
        }
        big = b"x" * 1_000_000  # larger than one socket write
        await client.set(f"{key}:big", big)
        assert await client.get(f"{key}:big") == big
        with pytest.raises(ResponseError):
            await client.incr(key)  # a hash: WRONGTYPE comes back as an error
        assert await client.ping()  # and the connection stays in step after it
    finally:
        await client.delete(key, f"{key}:big")


async def test_a_script_runs_and_is_loaded_on_first_use(client: Redis, namespace: str) -> None:
    source = f"-- {uuid.uuid4().hex}\nreturn {{KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}}"
    script = client.register_script(source)
    key = f"{namespace}:transport:script"
    assert await script(keys=[key], args=["a", 41]) == [key.encode(), b"a", 42]
    assert await client.script_exists(script.sha) == [True]


async def test_a_task_cancelled_during_commands_always_ends(client: Redis, namespace: str) -> None:
    # redis-py times each write with asyncio.wait_for when it has a socket timeout, which on
    # Python 3.11 drops a cancel that lands as the write completes: a third of these tasks
    # used to run on (the scheduler's leader loop outlived its stop that way).
    key = f"{namespace}:cancel-probe"

    async def commands() -> None:
        while True:
            await client.get(key)
            await asyncio.sleep(0.0005)

    survivors = 0
    for _ in range(200):
        task = asyncio.create_task(commands())
        await asyncio.sleep(random.random() * 0.005)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=0.2)
        if not done:
            survivors += 1
            while not task.done():  # do not leave it running in the session's loop
                task.cancel()
                await asyncio.sleep(0.01)
    assert survivors == 0
    assert await client.ping()  # the cancelled commands left the pool usable


async def test_commands_go_on_after_the_server_closed_every_connection(
    transport: TransportMode,
) -> None:
    async with private_redis() as server:
        client = open_redis(server.url, transport=transport)
        try:
            # Several pooled connections, all of which the restart closes.
            await asyncio.gather(*(client.set(f"k{i}", i) for i in range(8)))
            await server.restart()
            replies = await asyncio.gather(*(client.set(f"k{i}", i) for i in range(8)))
            assert replies == [True] * 8
            assert await client.get("k7") == b"7"
        finally:
            await client.aclose()


async def test_connections_are_timed_and_find_a_dead_peer_by_tcp(client: Redis) -> None:
    # Commands are timed (writes without wait_for: TimedWrites); TCP also gives up on a
    # vanished host, with the options redis-py applied to the socket.
    await client.ping()
    connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert isinstance(connection, TimedWritesConnection)
        assert connection.socket_timeout == SOCKET_TIMEOUT
        assert connection.socket_connect_timeout == CONNECT_TIMEOUT
        assert connection._writer is not None
        sock = connection._writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        user_timeout = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
        assert user_timeout == DEAD_PEER_SECONDS * 1000
    finally:
        await client.connection_pool.release(connection)


@pytest.mark.parametrize("mode", ["fast", "plain"])
async def test_a_stalled_server_fails_commands_in_time(mode: TransportMode) -> None:
    """A server that takes the connection and never answers (a stopped Redis process, a
    network dropping everything): the command fails with a timeout, it does not hang."""
    stalled: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = redis_from_url(f"redis://127.0.0.1:{port}/0", mode, socket_timeout=0.3)
    try:
        async with asyncio.timeout(10):  # far beyond the socket timeout: a hang fails here
            with pytest.raises(RedisTimeoutError):
                await client.get("anything")
    finally:
        await client.aclose()
        for writer in stalled:
            writer.close()
        server.close()
        await server.wait_closed()


def test_a_tls_url_gets_timed_tls_connections() -> None:
    client = redis_from_url("rediss://:secret@127.0.0.1:6380/2", "fast")
    pool = client.connection_pool
    assert pool.connection_class is TimedWritesSSLConnection
    assert pool.connection_kwargs["password"] == "secret"
    assert pool.connection_kwargs["db"] == 2
