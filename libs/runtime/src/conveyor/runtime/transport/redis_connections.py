"""redis-py below its public API: connections packing commands with hiredis and timing writes
so that a cancellation is never lost; the plain connection options beside them.

The only module that subclasses redis-py's connections (``tests/test_boundaries.py``).
redis-py's asyncio client packs commands in pure Python (its synchronous client uses hiredis
when installed); ``bench/redis_transport.py`` measures what hiredis packing saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.connection import HiredisRespSerializer
from redis.exceptions import TimeoutError as RedisTimeoutError

TransportMode = Literal["fast", "plain"]

_SERIALIZER = HiredisRespSerializer()


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        return _SERIALIZER.pack(*args)  # type: ignore[no-any-return]


class _CancellableWrites(Connection):
    """Times each write with ``asyncio.timeout`` instead of redis-py's ``asyncio.wait_for``.

    On Python 3.11 ``wait_for`` drops a cancellation that arrives as the wrapped write
    completes (CPython gh-86296, fixed in 3.12), and since redis-py 8 sets a socket timeout
    by default, every command goes through it: a third of the tasks cancelled amid Redis
    calls ran on, like a scheduler leader loop that outlived its stop.
    """

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout = self.socket_timeout
        if not timeout:
            await super().send_packed_command(command, check_health)
            return
        # Unset, redis-py writes directly; restored before anything else can use the
        # connection (a pool hands it to one command at a time).
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)
        except TimeoutError:  # the write was abandoned half-way: redis-py disconnected
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


class HiredisPackedConnection(_HiredisPacking, _CancellableWrites):
    """A TCP connection whose commands are packed by hiredis."""


class HiredisPackedSSLConnection(_HiredisPacking, _CancellableWrites, SSLConnection):
    """A TLS connection (``rediss://``) whose commands are packed by hiredis."""


def redis_from_url(url: str, transport: TransportMode, **options: Any) -> Redis:
    """``Redis.from_url(url, **options)`` on the connections of ``transport`` mode.

    Plain: redis-py's own connections without a socket timeout (its default before
    redis-py 8). With one, redis-py times every write with ``asyncio.wait_for``, which on
    Python 3.11 can drop a cancellation; without one, a dead connection is found by the
    operating system (the socket errors, keepalive) rather than by a timeout. A
    ``socket_timeout`` in the URL still applies, with that risk.
    """
    if transport == "plain":
        return Redis.from_url(url, socket_timeout=None, socket_keepalive=True, **options)
    client = Redis.from_url(url, **options)
    # Set on the pool, not passed to from_url: for ``rediss://`` redis-py replaces any
    # ``connection_class`` argument with its SSLConnection. No connection exists yet.
    tls = url.startswith("rediss://")
    pool = client.connection_pool
    pool.connection_class = HiredisPackedSSLConnection if tls else HiredisPackedConnection
    return client


def transport_of(redis: Redis) -> TransportMode:
    """The mode ``redis`` was opened in: ``fast`` only on this module's connections."""
    connection_class = redis.connection_pool.connection_class
    fast = isinstance(connection_class, type) and issubclass(connection_class, _CancellableWrites)
    return "fast" if fast else "plain"
