"""The Redis client of every service: redis-py's asyncio client, opened by
``transport/redis_connections.py`` in ``Settings.transport`` mode."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from conveyor.runtime.transport.redis_connections import TransportMode, redis_from_url
from conveyor.runtime.transport.redis_sentinel import SentinelConfig, open_sentinel_redis

RECONNECT_RETRIES = 2
"""Tries again, on a new connection, of a command whose connection failed. After a Redis
restart every pooled connection is closed by the server, and without this each one fails
its first command; a command that times out is never retried (it may have run)."""


def open_redis(
    url: str, sentinel: SentinelConfig | None = None, *, transport: TransportMode = "fast"
) -> Redis:
    """A client for ``url`` (``redis://`` or ``rediss://``), or with ``sentinel`` for the
    master its Sentinels name (``url`` then gives only credentials, database and TLS);
    connects lazily.

    ``transport`` is ``Settings.transport``: ``plain`` uses redis-py's public API only.
    A command whose connection fails is sent again on a new connection, as the reconnect
    policy below says; none is timed (see ``redis_connections``).
    """
    retry = Retry(
        ExponentialWithJitterBackoff(base=0.02, cap=0.5),
        RECONNECT_RETRIES,
        supported_errors=(RedisConnectionError,),
    )
    if sentinel is not None:
        return open_sentinel_redis(url, sentinel, retry=retry, transport=transport)
    return redis_from_url(url, transport, retry=retry)
