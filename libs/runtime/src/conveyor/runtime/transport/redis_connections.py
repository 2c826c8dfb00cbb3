"""Opening redis-py clients and remembering which mode each was opened in.

Both modes use redis-py's own connections, without a socket timeout: with one (redis-py 8's
default), redis-py times every write with ``asyncio.wait_for``, which on Python 3.11 drops a
cancellation that arrives as the write completes (CPython gh-86296), so tasks cancelled
amid Redis calls ran on. A dead peer is found by TCP instead (keepalive probes and a user
timeout). Hiredis packing of single commands through a connection subclass was measured
against this and removed (bench/README.md, ``bench.redis_transport``). The mode matters to
``redis_scripts``: only clients opened ``fast`` send script batches below redis-py's API.
"""

from __future__ import annotations

import socket
import weakref
from typing import Any

from redis.asyncio import Redis

from conveyor.runtime.transport.mode import TransportMode

__all__ = ["TransportMode", "connection_options", "opened_in", "redis_from_url", "transport_of"]

DEAD_PEER_SECONDS = 15
"""About how long a connection to a Redis host that vanished (no reset) takes to fail."""

CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection (redis-py 8's default socket timeout, which it also used)."""

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


def connection_options(**options: Any) -> dict[str, Any]:
    """``options`` with the services' socket settings where they set none (see above)."""
    options.setdefault("socket_timeout", None)
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
    """``Redis.from_url(url, **options)`` as the services open it, in ``transport`` mode.

    A ``socket_timeout`` in the URL or ``options`` still applies, with the cancellation risk
    above.
    """
    return opened_in(Redis.from_url(url, **connection_options(**options)), transport)


def transport_of(redis: Redis) -> TransportMode:
    """The mode ``redis`` was opened in (``plain`` for a client not opened here)."""
    return "fast" if redis in _FAST else "plain"
