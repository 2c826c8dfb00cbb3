"""A running subscription to a ``DynamicBindings`` topic: routing keys bound while it runs.

It keeps the keys its owner wants and binds them all again whenever the consumer comes back
(a reopen of its channel or a reconnect), then runs the owner's ``on_restored``: the queue is
consumed without acks, so messages that went by meanwhile are the owner's to recover.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika.abc

from conveyor.runtime.transport.amqp_consume import Consumer

log = logging.getLogger(__name__)

BIND_TIMEOUT_SECONDS = 5.0
"""A bind must not stall the subscription's owner while RabbitMQ struggles."""


class DynamicSubscription:
    """An exclusive queue of this instance, bound to the routing keys ``bind`` asked for."""

    def __init__(
        self,
        *,
        channel: aio_pika.abc.AbstractChannel,
        connection: aio_pika.abc.AbstractConnection,
        queue: aio_pika.abc.AbstractQueue,
        exchange: str,
        consumer: Consumer,
        on_restored: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self._channel = channel
        self._connection = connection
        self._queue = queue
        self._exchange = exchange
        self._consumer = consumer
        self._on_restored = on_restored
        self._keys: set[str] = set()
        # Serialises binds, unbinds and the rebinding after a restore, so a key unbound while
        # the subscription is being restored is never bound again.
        self._lock = asyncio.Lock()
        self._bind_kwargs: dict[str, Any] = {"timeout": BIND_TIMEOUT_SECONDS}
        if isinstance(queue, aio_pika.abc.AbstractRobustQueue):
            # We bind every wanted key after a reopen ourselves. aio-pika's own record of
            # bindings makes each unbind scan all of them: quadratic when thousands of keys
            # go at once.
            self._bind_kwargs["robust"] = False
        self.restored = 0
        """How many times the consumer came back and the keys were bound again."""
        self._watching = False

    @property
    def queue_name(self) -> str:
        return self._queue.name

    @property
    def channel(self) -> aio_pika.abc.AbstractChannel:
        """The channel consumed on (closed with the subscription)."""
        return self._channel

    @property
    def routing_keys(self) -> frozenset[str]:
        """The keys wanted (bound, or bound again at the next restore if binding failed)."""
        return frozenset(self._keys)

    def watch_restores(self) -> None:
        """Restore (rebind, then ``on_restored``) after every reopen of the channel and
        every reconnect; the consumer itself registered its own restore already."""
        if self._watching:
            return
        self._watching = True
        if isinstance(self._channel, aio_pika.abc.AbstractRobustChannel):
            self._channel.reopen_callbacks.add(self._restore)
        if isinstance(self._connection, aio_pika.abc.AbstractRobustConnection):
            self._connection.reconnect_callbacks.add(self._restore)

    async def bind(self, routing_key: str) -> None:
        """Receive ``routing_key``'s messages too: bound now, and again after every restore.

        If the broker does not bind it now this raises, and the key stays wanted.
        """
        async with self._lock:
            self._keys.add(routing_key)
            await self._queue.bind(self._exchange, routing_key, **self._bind_kwargs)

    async def unbind(self, routing_key: str) -> None:
        """Stop receiving ``routing_key``'s messages; forgotten even if unbinding raises (a
        stale binding only brings messages nobody wants, and goes with the queue)."""
        async with self._lock:
            self._keys.discard(routing_key)
            await self._queue.unbind(self._exchange, routing_key, timeout=BIND_TIMEOUT_SECONDS)

    async def cancel(self) -> None:
        """Stop consuming and restoring; closing the channel deletes the exclusive queue."""
        if self._watching:
            self._watching = False
            if isinstance(self._channel, aio_pika.abc.AbstractRobustChannel):
                self._channel.reopen_callbacks.discard(self._restore)
            if isinstance(self._connection, aio_pika.abc.AbstractRobustConnection):
                self._connection.reconnect_callbacks.discard(self._restore)
        await self._consumer.cancel()
        if not self._channel.is_closed:
            await self._channel.close()

    async def _restore(self, *_: Any) -> None:
        # Also after a channel-only error (no reconnect): messages may have gone meanwhile. On
        # a reconnect both callbacks run; each step is idempotent.
        try:
            await self._consumer.ensure_consuming()
        except Exception as exc:
            log.error("could not consume %s again: %s", self._queue.name, exc)
        async with self._lock:
            for key in self._keys:
                try:
                    await self._queue.bind(self._exchange, key, **self._bind_kwargs)
                except Exception as exc:
                    # Still wanted: bound again at the next restore.
                    log.warning("could not bind %s to %s again: %s", key, self._queue.name, exc)
        self.restored += 1
        if self._on_restored is not None:
            await self._on_restored()
