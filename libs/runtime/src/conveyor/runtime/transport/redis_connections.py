"""Opening redis-py clients and remembering which mode each was opened in.

Every command is bounded by ``SOCKET_TIMEOUT`` (redis-py 8's default), so a Redis that stalls
(or a network that drops everything) fails calls in seconds instead of holding them. redis-py
times reads with ``asyncio.timeout`` but writes with ``asyncio.wait_for``, which on Python 3.11
drops a cancellation that arrives as the write completes (CPython gh-86296): tasks cancelled
amid Redis calls ran on. So both modes use ``TimedWrites`` connections, which time the write
with ``asyncio.timeout`` as well: a correctness shim on redis-py's public
``send_packed_command``, not a fast path, hence in both modes. TCP keepalive probes and a user
timeout also find a vanished peer on idle connections. Hiredis packing of single commands
through a connection subclass was measured and removed (bench/README.md,
``bench.redis_transport``). The mode matters to ``redis_scripts``: only clients opened
``fast`` send script batches below redis-py's API.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.runtime.transport.mode import TransportMode

__all__ = [
    "TransportMode",
    "connection_options",
    "opened_in",
    "redis_from_url",
    "sentinel_connection_class",
    "transport_of",
]

DEAD_PEER_SECONDS = 15
"""About how long a connection to a Redis host that vanished (no reset) takes to fail."""

CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection (redis-py 8's default socket timeout, which it also used)."""

SOCKET_TIMEOUT = 5.0
"""Seconds a command's write, and then its reply, may take (redis-py 8's default)."""

_KEEPALIVE: dict[int, int] = {
    option: value
    for option, value in (
        (getattr(socket, "TCP_KEEPIDLE", None), 5),
        (getattr(socket, "TCP_KEEPINTVL", None), 2),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
        # Unacknowledged writes: without it the kernel retries for about 15 minutes.
        (getattr(socket, "TCP_USER_TIMEOUT", None), DEAD_PEER_SECONDS * 1000),
    )
    if option is not None
}

_FAST: weakref.WeakSet[Redis] = weakref.WeakSet()


class TimedWrites(Connection):
    """Times each write with ``asyncio.timeout`` instead of redis-py's ``asyncio.wait_for``."""

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


class TimedWritesConnection(TimedWrites):
    """A TCP connection whose writes are timed without losing cancellations."""


class TimedWritesSSLConnection(TimedWrites, SSLConnection):
    """A TLS connection (``rediss://``) whose writes are timed without losing cancellations."""


class SentinelTimedWritesConnection(SentinelManagedConnection, TimedWrites):
    """A connection to the master the Sentinels name, its writes timed as above."""


class SentinelTimedWritesSSLConnection(SentinelManagedSSLConnection, TimedWrites):
    """A TLS connection to the master the Sentinels name, its writes timed as above."""


def connection_options(**options: Any) -> dict[str, Any]:
    """``options`` with the services' socket settings where they set none (see above)."""
    options.setdefault("socket_timeout", SOCKET_TIMEOUT)
    # Connecting is timed with asyncio.timeout, which keeps cancellations: keep redis-py 8's.
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("socket_keepalive", True)
    options.setdefault("socket_keepalive_options", _KEEPALIVE)
    return options


def opened_in(client: Redis, transport: TransportMode) -> Redis:
    """Remember that ``client`` (however it was built) was opened in ``transport`` mode."""
    if transport == "fast":
        _FAST.add(client)
    return client


def redis_from_url(url: str, transport: TransportMode, **options: Any) -> Redis:
    """``Redis.from_url(url, **options)`` as the services open it, in ``transport`` mode, on
    ``TimedWrites`` connections (TLS for ``rediss://``)."""
    settings = {**connection_options(**options), **parse_url(url)}
    # parse_url names SSLConnection for rediss://; ConnectionPool.from_url would let it win
    # over any class given, so the pool is built here.
    tls = settings.pop("connection_class", Connection) is SSLConnection
    settings["connection_class"] = TimedWritesSSLConnection if tls else TimedWritesConnection
    return opened_in(Redis(connection_pool=ConnectionPool(**settings)), transport)


def sentinel_connection_class(*, tls: bool) -> type[Connection]:
    """The connection class of a Sentinel-managed pool (see ``redis_sentinel``)."""
    return SentinelTimedWritesSSLConnection if tls else SentinelTimedWritesConnection


def transport_of(redis: Redis) -> TransportMode:
    """The mode ``redis`` was opened in (``plain`` for a client not opened here)."""
    return "fast" if redis in _FAST else "plain"
