"""The services' Redis client on the real Redis: a task cancelled in the middle of a command
always ends, and a write that cannot finish still times out."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.runtime.redis_client import open_redis
from tests.support.namespace import REDIS_URL


async def test_a_task_cancelled_during_commands_always_ends(redis: Redis, namespace: str) -> None:
    # redis-py times each write with asyncio.wait_for, which on Python 3.11 drops a cancel
    # that lands as the write completes: a third of these tasks used to run on (the
    # scheduler's leader loop outlived its stop that way and hung a test run).
    key = f"{namespace}:cancel-probe"

    async def commands() -> None:
        while True:
            await redis.get(key)
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
    assert await redis.ping()  # the cancelled commands left the pool usable


async def test_a_write_that_cannot_finish_times_out() -> None:
    client = open_redis(f"{REDIS_URL}?socket_timeout=0.2")
    try:
        connection = await client.connection_pool.get_connection()
        try:
            # As with a full socket buffer: drain() waits for room that never comes.
            never_drained = asyncio.get_running_loop().create_future()
            connection._writer.drain = lambda: never_drained  # type: ignore[method-assign,union-attr]
            with pytest.raises(RedisTimeoutError, match="writing"):
                await connection.send_packed_command(b"PING\r\n", check_health=False)
            assert not connection.is_connected  # a half-written command is never reused
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()
