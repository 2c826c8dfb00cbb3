"""Consuming a queue until cancelled, restored after reconnects, in either mode.

Fast (``DirectConsumer``): consume on the underlying aiormq channel. aio-pika's
``Queue.consume`` wraps each delivery in an ``IncomingMessage`` and runs the callback in a
task of its own on top of aiormq's; on a hot queue both cost more than the work they wrap.
Consuming on the aiormq channel skips them, but then the robust channel no longer restores the
consumer: it re-declares the queue (and its bindings) when it reopens, and this class consumes
again from its reopen callback, from the connection's reconnect callback (whichever comes
first; consuming twice on one channel is prevented), and after the broker cancels the consumer
because its queue was deleted (declared again, then consumed, as aio-pika does for its own).

Plain (``PlainConsumer``): aio-pika's ``Queue.consume``, whose robust queue restores the
consumer after a reopen, a reconnect or a broker-side cancel.

Either way the callback gets a ``Delivery``, and deliveries start in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

import aio_pika.abc
import aiormq
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.transport.mode import TransportMode

log = logging.getLogger(__name__)

Callback = Callable[[Delivery], Coroutine[Any, Any, None]]


class Consumer(Protocol):
    async def start(self) -> None:
        """Consume now, and again after every reopen of the channel or reconnect."""

    async def cancel(self) -> None:
        """Stop consuming (deliveries already on their way still arrive) and stop restoring."""

    async def ensure_consuming(self) -> None:
        """Consume now if the channel came back and nobody restored the consumer yet
        (idempotent); an owner's own reopen callback calls it before it relies on consuming."""


def new_consumer(
    mode: TransportMode,
    connection: aio_pika.abc.AbstractConnection,
    queue: aio_pika.abc.AbstractQueue,
    callback: Callback,
    *,
    no_ack: bool = False,
) -> Consumer:
    """A consumer of ``queue`` in ``mode`` (not started yet)."""
    if mode == "fast":
        return DirectConsumer(connection, queue, callback, no_ack=no_ack)
    return PlainConsumer(queue, callback, no_ack=no_ack)


class PlainConsumer:
    """aio-pika's ``Queue.consume``; its robust queue restores the consumer."""

    def __init__(
        self, queue: aio_pika.abc.AbstractQueue, callback: Callback, *, no_ack: bool = False
    ) -> None:
        self._queue = queue
        self._callback = callback
        self._no_ack = no_ack
        self._tag: str | None = None

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=self._no_ack)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await self._callback(Delivery.of_aio_pika(message))

    async def ensure_consuming(self) -> None:
        pass  # the robust queue restores its consumers before the reopen callbacks run

    async def cancel(self) -> None:
        tag, self._tag = self._tag, None
        if tag is not None and not self._queue.channel.is_closed:
            await self._queue.cancel(tag)


class DirectConsumer:
    """Consumes ``queue`` with ``callback`` on whatever aiormq channel ``queue``'s channel has."""

    def __init__(
        self,
        connection: aio_pika.abc.AbstractConnection,
        queue: aio_pika.abc.AbstractQueue,
        callback: Callback,
        *,
        no_ack: bool = False,
    ) -> None:
        self._connection = connection
        self._queue = queue
        self._callback = callback
        self._no_ack = no_ack
        self._lock = asyncio.Lock()
        self._consuming_on: aiormq.Channel | None = None
        self._consumer_tag: str | None = None
        self._stopped = False
        self._restoring: set[asyncio.Task[None]] = set()

    @property
    def consumer_tag(self) -> str | None:
        return self._consumer_tag

    @property
    def consuming_on(self) -> aiormq.Channel | None:
        """The aiormq channel consumed on (a new one after each reopen)."""
        return self._consuming_on

    async def start(self) -> None:
        """Consume now, and again after every reopen of the channel or reconnect."""
        self._stopped = False
        await self.ensure_consuming()
        # A robust channel restores the queue, not the consumer: we do. Checked by type, not
        # looked up by name, so a rename in aio-pika fails here rather than silently.
        channel = self._queue.channel
        if isinstance(channel, aio_pika.abc.AbstractRobustChannel):
            channel.reopen_callbacks.add(self._on_reopen)
        if isinstance(self._connection, aio_pika.abc.AbstractRobustConnection):
            self._connection.reconnect_callbacks.add(self._on_reopen)

    async def cancel(self) -> None:
        """Stop consuming (deliveries already on their way still arrive) and stop restoring."""
        self._stopped = True
        for task in self._restoring:
            task.cancel()
        channel = self._queue.channel
        if isinstance(channel, aio_pika.abc.AbstractRobustChannel):
            channel.reopen_callbacks.discard(self._on_reopen)
        if isinstance(self._connection, aio_pika.abc.AbstractRobustConnection):
            self._connection.reconnect_callbacks.discard(self._on_reopen)
        async with self._lock:
            consuming_on, tag = self._consuming_on, self._consumer_tag
            self._consuming_on = self._consumer_tag = None
            if consuming_on is not None and tag is not None and not consuming_on.is_closed:
                await consuming_on.basic_cancel(tag)

    async def ensure_consuming(self) -> None:
        """Consume on the queue's current channel unless already consuming there."""
        async with self._lock:
            if self._stopped:
                return
            channel = cast(aiormq.Channel, await self._queue.channel.get_underlay_channel())
            if channel is self._consuming_on and not channel.is_closed:
                return
            ok = await channel.basic_consume(self._queue.name, self._deliver, no_ack=self._no_ack)
            if channel is not self._consuming_on:
                channel.on_consumer_cancel_callbacks.add(self._on_broker_cancel)
            self._consuming_on, self._consumer_tag = channel, ok.consumer_tag

    async def _deliver(self, message: DeliveredMessage) -> None:
        await self._callback(Delivery.of_aiormq(message))

    async def _on_reopen(self, *_: Any) -> None:
        try:
            await self.ensure_consuming()
        except Exception as exc:
            log.error("could not consume %s again: %s", self._queue.name, exc)

    def _on_broker_cancel(self, frame: spec.Basic.Cancel) -> None:
        if frame.consumer_tag != self._consumer_tag or self._stopped:
            return
        # Its queue was deleted. What aio-pika does for its own consumers: declare it again
        # (with the arguments it was declared with), then consume.
        log.warning("the broker cancelled the consumer of %s; declaring it again", self._queue.name)
        self._consuming_on = None
        task = asyncio.create_task(self._declare_and_consume())
        self._restoring.add(task)
        task.add_done_callback(self._restoring.discard)

    async def _declare_and_consume(self) -> None:
        while not self._stopped:
            try:
                await self._queue.declare()
                await self.ensure_consuming()
                return
            except Exception as exc:
                log.error("could not consume %s again (%s); retrying in 1 s", self._queue.name, exc)
                await asyncio.sleep(1.0)
