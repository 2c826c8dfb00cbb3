"""A Redis client that follows Sentinel: each new connection goes to the master the Sentinels
name, so every service follows a failover.

redis-py's ``Sentinel.master_for`` does the following: its pool asks the Sentinels for the
master's address whenever it opens a connection, drops idle connections to a former master,
and turns a ``READONLY`` reply (a demoted master) into a connection error, which the client's
retry policy answers with a new connection. The connections are redis-py's Sentinel-managed
ones with the services' timed writes and socket settings (``redis_connections``), and the
client is remembered in its transport mode like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from conveyor.runtime.settings import Settings
from conveyor.runtime.transport.redis_connections import (
    TransportMode,
    connection_options,
    opened_in,
    sentinel_connection_class,
)


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    """Where the Sentinels are and which master they watch."""

    sentinels: Sequence[str]
    """``host:port`` of each Sentinel."""
    master_name: str
    password: str = ""
    """The Sentinels' own password; the master's comes from the Redis URL."""


def sentinel_config(settings: Settings) -> SentinelConfig | None:
    """The settings' Sentinel setup; ``None`` without ``CONVEYOR_REDIS_SENTINELS``."""
    if not settings.redis_sentinels:
        return None
    return SentinelConfig(
        settings.redis_sentinels, settings.redis_master_name, settings.redis_sentinel_password
    )


def sentinel_addresses(entries: Sequence[str]) -> list[tuple[str, int]]:
    """``host:port`` entries (validated by the settings) as address pairs."""
    pairs = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        pairs.append((host, int(port)))
    return pairs


def master_connection_options(url: str) -> dict[str, Any]:
    """What the Redis URL says about the master besides its address: credentials, database,
    TLS and the URL's query options (``socket_timeout`` and the like), as redis-py reads them."""
    options: dict[str, Any] = dict(parse_url(url))
    options.pop("host", None)
    options.pop("port", None)
    options.pop("path", None)
    if options.pop("connection_class", None) is not None:  # ``rediss://``
        options["ssl"] = True
    return options


class _SentinelRedis(Redis):
    """Closes the Sentinels' connections with its own (``master_for`` leaves them open)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def open_sentinel_redis(
    url: str, config: SentinelConfig, *, retry: Retry, transport: TransportMode
) -> Redis:
    """A client for the master ``config`` names, with the credentials, database and TLS of
    ``url``; connects lazily, asking the Sentinels on each new connection."""
    options = connection_options(**master_connection_options(url))
    # ``ssl`` reaches the Sentinel pool, which drops it: the connection class says TLS.
    tls = bool(options.get("ssl", False))
    sentinel_options: dict[str, Any] = {
        name: value for name, value in options.items() if name.startswith("socket_")
    }
    if config.password:
        sentinel_options["password"] = config.password
    if tls:  # Sentinels of a TLS deployment speak TLS too (``tls-port`` in sentinel.conf)
        sentinel_options.update(
            {name: value for name, value in options.items() if name.startswith("ssl_")},
            ssl=True,
        )
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(config.sentinels), sentinel_kwargs=sentinel_options, **options
    )
    client: Redis = sentinel.master_for(
        config.master_name,
        redis_class=_SentinelRedis,
        connection_class=sentinel_connection_class(tls=tls),
        retry=retry,
    )
    return opened_in(client, transport)
