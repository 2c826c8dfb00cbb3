"""``Subscriber.subscribe(topic, handler)``: the one way a Conveyor process consumes messages.

Three kinds of topic. A ``Broadcast`` reaches every instance: each subscribes with an
exclusive, auto-deleted queue of its own bound to the topic's routing keys, and its handler
gets the decoded message inside a CONSUMER span, child of the publisher's. A
``DynamicBindings`` topic is a broadcast whose routing keys each instance binds and unbinds
while it runs (the gateway's job events, bound per watched owner): its subscription offers
``bind``/``unbind``, binds them all again after the consumer comes back, then runs the
subscriber's ``on_restored`` (consumed without acks, what went by meanwhile is the
subscriber's to recover). A ``WorkQueue`` is a service's durable job queue shared by
competing workers; its handler gets the raw ``Delivery`` and settles it itself (the harness
batches acks, dead-letters what does not decode, and opens the job's span with
``consumer_span`` once the envelope says which job it is). Work queues and dynamic bindings
are consumed by the transport's consumer (``conveyor.runtime.transport.amqp_consume``), which
consumes again after reconnects. Every message taken from any of them is counted here
(``conveyor_messages_consumed_total{subscription, outcome}``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import aio_pika.abc
import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from conveyor.runtime.broker import Broker
from conveyor.runtime.dynamic_subscription import DynamicSubscription
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.queue_arguments import service_queue_arguments
from conveyor.runtime.telemetry import consumer_span_recorded, extract_context, remote_child_span
from conveyor.runtime.transport.amqp_consume import new_consumer
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)

M = TypeVar("M")


class Exchange(enum.Enum):
    """The exchanges broadcasts are bound to."""

    CONTROL = "control"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class Broadcast(Generic[M]):
    """Messages every instance hears, each on a queue of its own."""

    name: str
    """Names the instance's queue (``<namespace>.<name>.<instance>``) and its metrics."""
    exchange: Exchange
    bindings: tuple[str, ...]
    """Routing keys, built by ``conveyor.contracts.topology`` (never written out here)."""
    decode: Callable[[bytes], M]
    ack: bool = False
    """Ack each message after its handler, one at a time; otherwise consume without acks."""


@dataclass(frozen=True, slots=True)
class DynamicBindings(Generic[M]):
    """Messages of the routing keys an instance binds while it runs, on a queue of its own."""

    name: str
    """Names the instance's queue (``<namespace>.<name>.<instance>``) and its metrics."""
    exchange: Exchange
    decode: Callable[[Delivery], M]
    """The handler's message from a delivery (body and headers); raises
    ``msgspec.MsgspecError`` for one that is not the topic's (counted, logged and dropped)."""


@dataclass(frozen=True, slots=True)
class WorkQueue:
    """A service's durable job queue, shared by its workers."""

    service: str


class Subscription:
    """A running consumer; ``cancel`` stops it (and closes the channel it opened, if any)."""

    def __init__(self, cancel: Callable[[], Awaitable[None]]) -> None:
        self._cancel = cancel

    async def cancel(self) -> None:
        await self._cancel()


class Subscriber:
    """Subscribes one process (``instance``) to topics, with tracing and metrics."""

    def __init__(self, broker: Broker, *, instance: str, metrics: Metrics) -> None:
        self._broker = broker
        self._instance = instance
        self._metrics = metrics

    @overload
    async def subscribe(
        self,
        topic: Broadcast[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        channel: aio_pika.abc.AbstractChannel | None = None,
    ) -> Subscription: ...

    @overload
    async def subscribe(
        self,
        topic: WorkQueue,
        handler: Callable[[Delivery], Awaitable[None]],
        *,
        channel: aio_pika.abc.AbstractChannel | None = None,
    ) -> Subscription: ...

    @overload
    async def subscribe(
        self,
        topic: DynamicBindings[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        on_restored: Callable[[], Awaitable[None]] | None = None,
    ) -> DynamicSubscription: ...

    async def subscribe(
        self,
        topic: Broadcast[Any] | WorkQueue | DynamicBindings[Any],
        handler: Callable[[Any], Awaitable[None]],
        *,
        channel: aio_pika.abc.AbstractChannel | None = None,
        on_restored: Callable[[], Awaitable[None]] | None = None,
    ) -> Subscription | DynamicSubscription:
        """Consume ``topic``, running ``handler`` on each message, until cancelled.

        A broadcast's handler gets the decoded message (one that does not decode is logged
        and dropped); without ``channel`` the subscription opens its own (closed with it). A
        work queue needs ``channel``: its prefetch bounds the work in hand, and the handler's
        acks go to it after the consumer is cancelled, so its owner closes it. Dynamic
        bindings start with none bound and always open their own channel; ``on_restored``
        runs after each restore of the consumer, once the wanted keys are bound again.
        """
        match topic:
            case Broadcast():
                return await self._broadcast(topic, handler, channel)
            case WorkQueue():
                if channel is None:
                    raise ValueError("a work queue is consumed on its owner's channel")
                return await self._work_queue(topic, handler, channel)
            case DynamicBindings():
                return await self._dynamic(topic, handler, on_restored)

    async def _broadcast(
        self,
        topic: Broadcast[M],
        handler: Callable[[M], Awaitable[None]],
        channel: aio_pika.abc.AbstractChannel | None,
    ) -> Subscription:
        own_channel = channel is None
        if channel is None:
            channel = await self._broker.open_channel(prefetch=1 if topic.ack else None)
        queue = await self._broker.declare_instance_queue(
            channel,
            topic.name,
            self._instance,
            exchange=self._exchange_name(topic.exchange),
            bindings=topic.bindings,
        )
        counted = self._counters(topic.name)

        async def run(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            try:
                decoded = topic.decode(message.body)
            except msgspec.MsgspecError as exc:
                counted["undecodable"].inc()
                log.warning("ignoring an undecodable %s message: %s", topic.name, exc)
                return
            with consumer_span(message.routing_key or topic.name, message.headers) as span:
                try:
                    await handler(decoded)
                except Exception as exc:
                    counted["failed"].inc()
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    raise
            counted["handled"].inc()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            if not topic.ack:
                await run(message)
                return
            async with message.process(ignore_processed=True):
                await run(message)

        tag = await queue.consume(on_message, no_ack=not topic.ack)

        async def cancel() -> None:
            if channel.is_closed:
                return
            if own_channel:
                await channel.close()  # the exclusive queue goes with it
            else:
                await queue.cancel(tag)

        return Subscription(cancel)

    async def _work_queue(
        self,
        topic: WorkQueue,
        handler: Callable[[Delivery], Awaitable[None]],
        channel: aio_pika.abc.AbstractChannel,
    ) -> Subscription:
        # Restored after reconnects by the transport's consumer; ``handler`` settles each
        # delivery. Declared (idempotently), not just looked up: a robust channel declares
        # again, after a reconnect, the queues it declared; the consumer then consumes again.
        # In quorum mode the service has a queue per priority lane, each consumed here with
        # the channel's per-consumer prefetch; the handler decides which delivery runs first.
        topology = self._broker.topology
        taken = self._counters(f"jobs.{topic.service}")["handled"]

        async def on_message(message: Delivery) -> None:
            taken.inc()
            await handler(message)

        consumers = []
        for name, _ in topology.job_queues(topic.service):
            queue = await channel.declare_queue(
                name, durable=True, arguments=service_queue_arguments(topology.queue_type)
            )
            consumer = new_consumer(
                self._broker.transport, self._broker.connection, queue, on_message
            )
            await consumer.start()
            consumers.append(consumer)

        async def cancel() -> None:
            for consumer in consumers:
                await consumer.cancel()

        return Subscription(cancel)

    async def _dynamic(
        self,
        topic: DynamicBindings[M],
        handler: Callable[[M], Awaitable[None]],
        on_restored: Callable[[], Awaitable[None]] | None,
    ) -> DynamicSubscription:
        exchange = self._exchange_name(topic.exchange)
        channel = await self._broker.open_channel()
        try:
            queue = await self._broker.declare_instance_queue(
                channel, topic.name, self._instance, exchange=exchange, bindings=()
            )
            consumer = new_consumer(
                self._broker.transport,
                self._broker.connection,
                queue,
                self._dynamic_handler(topic, handler),
                no_ack=True,
            )
            await consumer.start()
        except BaseException:
            await channel.close()
            raise
        subscription = DynamicSubscription(
            channel=channel,
            connection=self._broker.connection,
            queue=queue,
            exchange=exchange,
            consumer=consumer,
            on_restored=on_restored,
        )
        subscription.watch_restores()
        return subscription

    def _dynamic_handler(
        self, topic: DynamicBindings[M], handler: Callable[[M], Awaitable[None]]
    ) -> Callable[[Delivery], Coroutine[Any, Any, None]]:
        counted = self._counters(topic.name)
        handled, failed = counted["handled"], counted["failed"]

        # A hot feed (every job event of the watched owners): no await before ``handler``,
        # so handlers start in arrival order; and no span, nor even the publisher's context,
        # unless a span would be recorded.
        async def on_message(delivery: Delivery) -> None:
            try:
                message = topic.decode(delivery)
            except msgspec.MsgspecError as exc:
                counted["undecodable"].inc()
                log.warning("ignoring an undecodable %s message: %s", topic.name, exc)
                return
            if not consumer_span_recorded(delivery.headers):
                try:
                    await handler(message)
                except Exception:
                    failed.inc()
                    raise
                handled.inc()
                return
            with consumer_span(delivery.routing_key or topic.name, delivery.headers) as span:
                try:
                    await handler(message)
                except Exception as exc:
                    failed.inc()
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    raise
            handled.inc()

        return on_message

    def _exchange_name(self, exchange: Exchange) -> str:
        topology = self._broker.topology
        return topology.control if exchange is Exchange.CONTROL else topology.events

    def _counters(self, subscription: str) -> dict[str, Any]:
        # Labelled once: ``labels`` takes a lock and builds a key on every call.
        consumed = self._metrics.messages_consumed
        return {
            outcome: consumed.labels(subscription, outcome)
            for outcome in ("handled", "undecodable", "failed")
        }


@contextmanager
def consumer_span(
    routing_key: str,
    *carriers: Mapping[str, Any] | None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[trace.Span]:
    """The CONSUMER span ``process <routing key>`` of one message, child of the context its
    publisher left in the first carrier that has one (headers, then e.g. the envelope)."""
    parent: otel_context.Context = extract_context(*carriers)
    with remote_child_span(
        f"process {routing_key}",
        parent,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "rabbitmq", **(attributes or {})},
    ) as span:
        yield span
