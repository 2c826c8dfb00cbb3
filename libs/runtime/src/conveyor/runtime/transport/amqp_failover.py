"""Connecting to one of several RabbitMQ nodes (a cluster), and moving to another on a loss.

aio-pika's robust connection reconnects to the one URL it was made with. It reads its public
``url`` attribute at each attempt, so ``NodeRotation`` points it at the next node: when the
connection closes (the node went down) and then every ``interval`` while it stays down. The
connection object, its channels and their consumers stay the same; the robust connection
restores them on whichever node answers. Every URL must share the query options (heartbeat,
timeouts): they are read from the first one.

It lives in the transport because it relies on how aio-pika reconnects (its ``url`` attribute
is not part of the abstract connection type). It is needed for correctness, not speed, so it
has no plain variant: both modes use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aio_pika.abc
from yarl import URL

log = logging.getLogger(__name__)


def split_amqp_urls(value: str) -> list[str]:
    """``CONVEYOR_AMQP_URL``'s URLs: one, or several comma-separated (a cluster's nodes)."""
    urls = [url.strip() for url in value.split(",") if url.strip()]
    if not urls:
        raise ValueError("no AMQP URL given")
    return urls


def redact(url: str) -> str:
    """``url`` without its credentials, for logs."""
    head, sep, tail = url.rpartition("@")
    return f"{head.split('://')[0]}://***@{tail}" if sep else url


class NodeRotation:
    """Moves ``connection`` to the next of ``urls`` whenever it is lost and while it is down."""

    def __init__(
        self,
        connection: aio_pika.abc.AbstractRobustConnection,
        urls: list[str],
        current: int,
        *,
        interval: float,
    ) -> None:
        self._connection = connection
        self._urls = urls
        self._current = current
        self._interval = interval
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> None:
        if len(self._urls) < 2:
            return
        self._connection.close_callbacks.add(self._on_close)
        self._watch = asyncio.create_task(self._rotate_while_down(), name="amqp-node-rotation")

    async def stop(self) -> None:
        self._connection.close_callbacks.discard(self._on_close)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    def _on_close(self, *_: Any) -> None:
        # Before the robust connection's first reconnect attempt, which reads ``url``.
        self._next("the connection was lost")

    async def _rotate_while_down(self) -> None:
        # Ticks at the robust connection's own retry pace, so each node gets an attempt.
        down_before = False
        while True:
            await asyncio.sleep(self._interval)
            down = not self._connection.connected.is_set()
            if down and down_before:
                self._next("still not connected")
            down_before = down

    def _next(self, why: str) -> None:
        self._current = (self._current + 1) % len(self._urls)
        url = self._urls[self._current]
        log.warning("RabbitMQ: %s; trying %s next", why, redact(url))
        # The attribute aio-pika's Connection.connect reads at each attempt (update_secret
        # assigns it too).
        self._connection.url = URL(url)  # type: ignore[attr-defined]
