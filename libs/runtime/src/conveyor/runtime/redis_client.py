"""The Redis client of every service: redis-py's asyncio client, packing commands with hiredis.

redis-py's synchronous client packs commands with hiredis when it is installed, its asyncio
client in pure Python: about 60 us for a job-store script call against 8 us with hiredis,
which made packing the largest single cost of a busy worker.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.connection import HiredisRespSerializer

_SERIALIZER = HiredisRespSerializer()


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        return _SERIALIZER.pack(*args)  # type: ignore[no-any-return]


class HiredisPackedConnection(_HiredisPacking, Connection):
    """A TCP connection whose commands are packed by hiredis."""


class HiredisPackedSSLConnection(_HiredisPacking, SSLConnection):
    """A TLS connection (``rediss://``) whose commands are packed by hiredis."""


def open_redis(url: str) -> Redis:
    """A client for ``url`` (``redis://`` or ``rediss://``); connects lazily."""
    tls = url.startswith("rediss://")
    return Redis.from_url(
        url, connection_class=HiredisPackedSSLConnection if tls else HiredisPackedConnection
    )
