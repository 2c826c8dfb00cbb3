"""The Redis client of every service: redis-py's asyncio client, packing commands with hiredis
and timing writes so that a cancellation is never lost.

redis-py's synchronous client packs commands with hiredis when it is installed, its asyncio
client in pure Python: about 60 us for a job-store script call against 8 us with hiredis,
which made packing the largest single cost of a busy worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from conveyor.runtime.redis_sentinel import SentinelConfig

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


RECONNECT_RETRIES = 2
"""Tries again, on a new connection, of a command whose connection failed. After a Redis
restart every pooled connection is closed by the server, and without this each one fails
its first command; a command that times out is never retried (it may have run)."""


def open_redis(url: str, sentinel: SentinelConfig | None = None) -> Redis:
    """A client for ``url`` (``redis://`` or ``rediss://``), or with ``sentinel`` for the
    master its Sentinels name (``url`` then gives only credentials, database and TLS);
    connects lazily."""
    retry = Retry(
        ExponentialWithJitterBackoff(base=0.02, cap=0.5),
        RECONNECT_RETRIES,
        supported_errors=(RedisConnectionError,),
    )
    if sentinel is not None:
        from conveyor.runtime.redis_sentinel import open_sentinel_redis  # imports this module

        return open_sentinel_redis(url, sentinel, retry=retry)
    tls = url.startswith("rediss://")
    return Redis.from_url(
        url,
        connection_class=HiredisPackedSSLConnection if tls else HiredisPackedConnection,
        retry=retry,
    )
