"""The AMQP side of a service: one robust connection, the topology, confirmed publishing.

Jobs are published with publisher confirms (or fail after ``publish_timeout``) without
serialising: many publishes share the channel, bounded by ``max_in_flight`` because aiormq
scans every pending confirm on each multiple-ack. A publish that cannot be confirmed raises
``BrokerUnavailableError``; the caller decides (503, retry, requeue).

Events go on a second channel without confirms: they are non-persistent and routed to
transient queues, so a confirm would not make them survive a broker restart anyway; Redis
holds every job's event history, and readers fill gaps from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from random import getrandbits
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import aio_pika
import aio_pika.abc
from aio_pika.connection import make_url
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from conveyor.contracts.topology import (
    HEADER_DELAY_MS,
    SERVICE_BINDINGS,
    Topology,
    lane_of_priority,
    lane_routing_key,
)
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.queue_arguments import (
    delay_queue_arguments,
    durable_queue_arguments,
    service_queue_arguments,
)
from conveyor.runtime.transport.amqp_events import EventPublisher, event_publisher
from conveyor.runtime.transport.amqp_failover import NodeRotation, redact, split_amqp_urls
from conveyor.runtime.transport.amqp_publish import (
    PublishProgress,
    confirmed_publisher,
    is_definite_refusal,
)
from conveyor.runtime.transport.mode import TransportMode

log = logging.getLogger(__name__)


Headers = dict[str, Any]
MessageHandler = Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]


class BrokerUnavailableError(ConnectionError):
    """RabbitMQ did not take (or confirm) a message in time."""

    def __init__(self, action: str, cause: BaseException | None = None) -> None:
        self.action = action
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        super().__init__(f"RabbitMQ is unavailable ({action}){detail}")


class PublishUnconfirmedError(BrokerUnavailableError):
    """The publish went out but its confirm never came (the connection dropped, or it timed
    out): RabbitMQ may hold the message or may not. Publishing the same message again is the
    only way to be sure, and consumers must treat the copy as the same message."""


class Broker:
    """One process's AMQP connection and channels, for publishing and consuming."""

    def __init__(
        self,
        url: str,
        topology: Topology,
        *,
        publish_timeout: float = 5.0,
        connection_name: str = "conveyor",
        max_in_flight: int = 256,
        metrics: Metrics | None = None,
        transport: TransportMode = "fast",
    ) -> None:
        self.urls = split_amqp_urls(url)
        """One URL, or a cluster's nodes: connect tries each in turn, a loss moves to the next."""
        self.url = self.urls[0]
        self.user_id = broker_user(self.url)
        """Set as ``user_id`` on job publishes; RabbitMQ checks it is this connection's user."""
        self._metrics = metrics
        self.topology = topology
        self.publish_timeout = publish_timeout
        self._connection_name = connection_name
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._publisher: aio_pika.abc.AbstractChannel | None = None
        self.transport: TransportMode = transport
        """The transport mode (``Settings.transport``): how publishes reach the channel."""
        self._confirmed = confirmed_publisher(transport, user_id=self.user_id)
        self._event_channel: aio_pika.abc.AbstractChannel | None = None
        self._events: EventPublisher = event_publisher(transport, topology.events)
        self._events_exchange: aio_pika.abc.AbstractExchange | None = None
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._connected = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._rotation: NodeRotation | None = None
        self._next_node = 0
        self._delay_queues: set[int] = set()
        self._lanes = (
            frozenset((topology.jobs, topology.delays)) if topology.queue_type == "quorum" else None
        )
        """Quorum mode: the exchanges whose job keys are moved into their priority's lane."""

    # -- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect now, declaring the topology; raises ``BrokerUnavailableError`` if it can't.

        With several URLs each node is tried once, starting after the last one that failed.
        """
        failure: BrokerUnavailableError | None = None
        for _ in self.urls:
            node = self._next_node
            try:
                connection = await self._connect_node(self.urls[node])
                break
            except BrokerUnavailableError as exc:
                failure = exc
                self._next_node = (node + 1) % len(self.urls)
                if len(self.urls) > 1:
                    log.warning("RabbitMQ node %s not reachable: %s", redact(self.urls[node]), exc)
        else:
            assert failure is not None
            raise failure
        self._rotation = NodeRotation(
            connection, self.urls, node, interval=connection.reconnect_interval
        )
        self._rotation.start()
        self._publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await self.declare_topology()
        self._event_channel = await connection.channel(publisher_confirms=False)
        self._events_exchange = await self._event_channel.get_exchange(
            self.topology.events, ensure=False
        )
        self._connected.set()

    async def _connect_node(self, url: str) -> aio_pika.RobustConnection:
        # The connection object exists before it connects, so close() can always stop it: a
        # robust connection whose first attempt is cancelled schedules a reconnect of its own,
        # and that task would keep the process from exiting.
        connection = aio_pika.RobustConnection(
            make_url(url), client_properties={"connection_name": self._connection_name}
        )
        self._connection = connection
        try:
            await connection.connect()
        except CONNECTION_EXCEPTIONS as exc:
            await connection.close()
            self._connection = None
            raise BrokerUnavailableError("connect", exc) from exc
        return connection

    def connect_in_background(self, retry_interval: float = 1.0) -> None:
        """Keep trying to connect until it works; meanwhile publishing fails fast.

        Lets a gateway start (and answer 503s and health checks) while RabbitMQ is down.
        """

        async def keep_trying() -> None:
            while True:
                try:
                    await self.connect()
                    url = self.urls[self._next_node]
                    log.info("connected to RabbitMQ", extra={"amqp_url": redact(url)})
                    return
                except BrokerUnavailableError as exc:
                    log.warning("RabbitMQ not reachable yet, retrying: %s", exc)
                    await asyncio.sleep(retry_interval)

        self._connector = asyncio.create_task(keep_trying(), name="broker-connect")

    async def close(self) -> None:
        if self._rotation is not None:
            await self._rotation.stop()
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._connection is not None:
            await self._connection.close()
        self._connected.clear()

    async def wait_connected(self) -> None:
        """Return once the first connection is up and the topology declared."""
        await self._connected.wait()

    @property
    def is_available(self) -> bool:
        """Connected with the topology declared, and the publishing channel open.

        False while reconnecting, and until ``connect`` finished declaring the topology (a
        publish before that fails fast).
        """
        return (
            self._connected.is_set()
            and self._connection is not None
            and not self._connection.is_closed
            and self._publisher is not None
            and not self._publisher.is_closed
        )

    @property
    def connection(self) -> aio_pika.abc.AbstractRobustConnection:
        if self._connection is None:
            raise BrokerUnavailableError("not connected")
        return self._connection

    # -- topology ------------------------------------------------------------------------------

    async def declare_topology(self) -> None:
        """Declare exchanges, every service's job queue, and the dead-letter queue. Idempotent."""
        channel = self._channel()
        t = self.topology
        self._exchanges[t.jobs] = await _declare_topic(channel, t.jobs)
        self._exchanges[t.events] = await _declare_topic(channel, t.events)
        self._exchanges[t.control] = await _declare_topic(channel, t.control)
        self._exchanges[""] = channel.default_exchange  # routes by queue name (parked jobs)
        self._exchanges[t.delays] = await channel.declare_exchange(
            t.delays, type=aio_pika.ExchangeType.HEADERS, durable=True
        )
        dead = await channel.declare_exchange(
            t.dead_letters, type=aio_pika.ExchangeType.FANOUT, durable=True
        )
        self._exchanges[t.dead_letters] = dead
        dlq = await channel.declare_queue(
            t.dead_letter_queue, durable=True, arguments=durable_queue_arguments(t.queue_type)
        )
        await dlq.bind(dead)
        for service, bindings in SERVICE_BINDINGS.items():
            for name, lane in t.job_queues(service):
                queue = await channel.declare_queue(
                    name, durable=True, arguments=service_queue_arguments(t.queue_type)
                )
                for key in bindings:
                    binding = key if lane is None else lane_routing_key(key, lane)
                    await queue.bind(self._exchanges[t.jobs], binding)

    async def _declare_delay_queue(self, delay_ms: int) -> None:
        # Each delay has its own queue so every message in it shares one TTL and expires in
        # FIFO order; x-expires drops a queue once no retry has used it for a while.
        channel = self._channel()
        queue = await channel.declare_queue(
            self.topology.delay_queue(delay_ms),
            durable=True,
            arguments={
                **delay_queue_arguments(self.topology.queue_type),
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": self.topology.jobs,
                "x-expires": delay_ms + 3_600_000,
            },
        )
        await queue.bind(
            self._exchanges[self.topology.delays],
            arguments={"x-match": "all", HEADER_DELAY_MS: str(delay_ms)},
        )

    # -- publishing ----------------------------------------------------------------------------

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: Mapping[str, Any] | None = None,
        priority: int | None = None,
        persistent: bool = True,
        mandatory: bool = True,
        message_id: str | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm; ``BrokerUnavailableError`` if none comes.

        How the frames reach the channel is the transport's (``conveyor.runtime.transport``);
        a nack, a mandatory message's return, the channel's close and the timeout all raise
        ``BrokerUnavailableError`` with aiormq's error as its cause, in either mode.
        """
        if not self._connected.is_set():
            raise BrokerUnavailableError(f"publish to {exchange}")
        if self._lanes and priority is not None and exchange in self._lanes:
            # Quorum queues have no priorities: the key picks the priority's lane queue.
            routing_key = lane_routing_key(routing_key, lane_of_priority(priority))
        target = self._exchanges[exchange]  # a KeyError names an exchange never declared
        # aiormq matches a returned message to its confirm by message id, so each publish has
        # one; without one given, draw it as aiormq's basic_publish does.
        message_id = message_id or UUID(int=getrandbits(128), version=4).hex
        progress = PublishProgress()
        try:
            async with self._in_flight:
                started = time.perf_counter()
                await self._confirmed.publish(
                    self._channel(),  # the exchanges were declared on it
                    target.name,
                    routing_key,
                    body,
                    message_id=message_id,
                    headers=headers or None,
                    persistent=persistent,
                    priority=priority,
                    mandatory=mandatory,
                    within=self.publish_timeout,
                    progress=progress,
                )
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            action = f"publish to {exchange} {routing_key}"
            # A nack or a returned message is a definite "not taken"; anything else after the
            # frames were queued leaves it open whether the broker has the message.
            if progress.frames_queued and not is_definite_refusal(exc):
                raise PublishUnconfirmedError(action, exc) from exc
            raise BrokerUnavailableError(action, exc) from exc
        if self._metrics is not None:
            label = exchange.removeprefix(f"{self.topology.namespace}.") or "default"
            self._metrics.publish_latency.labels(label).observe(time.perf_counter() - started)

    async def publish_event(self, routing_key: str, body: bytes, *, headers: Headers) -> None:
        """Write an event to the ``events`` exchange (no confirm, not persistent)."""
        await self.publish_events([(routing_key, body, headers)])

    async def publish_events(self, events: Sequence[tuple[str, bytes, Headers]]) -> None:
        """Write events (routing key, body, headers) to the ``events`` exchange, in order.

        No confirm, not persistent (see ``conveyor.runtime.transport.amqp_events``).
        """
        if self._event_channel is None or not self._connected.is_set():
            raise BrokerUnavailableError("publish event")
        try:
            await self._events.publish(self._event_channel, events)
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailableError(f"publish {len(events)} event(s)", exc) from exc

    async def publish_delayed(
        self, routing_key: str, body: bytes, delay_ms: int, *, headers: Headers, priority: int
    ) -> None:
        """Publish a job that re-enters ``jobs`` with ``routing_key`` after ``delay_ms``."""
        if delay_ms not in self._delay_queues:
            try:
                await self._declare_delay_queue(delay_ms)
            except CONNECTION_EXCEPTIONS as exc:
                raise BrokerUnavailableError("declare delay queue", exc) from exc
            self._delay_queues.add(delay_ms)
        await self.publish(
            self.topology.delays,
            routing_key,
            body,
            headers={**headers, HEADER_DELAY_MS: str(delay_ms)},
            priority=priority,
        )

    # -- consuming -----------------------------------------------------------------------------

    async def open_channel(self, prefetch: int | None = None) -> aio_pika.abc.AbstractChannel:
        channel = await self.connection.channel(publisher_confirms=False)
        if prefetch is not None:
            await channel.set_qos(prefetch_count=prefetch)
        return channel

    async def declare_instance_queue(
        self,
        channel: aio_pika.abc.AbstractChannel,
        purpose: str,
        instance: str,
        *,
        exchange: str,
        bindings: tuple[str, ...],
    ) -> aio_pika.abc.AbstractQueue:
        """An exclusive, auto-deleted queue of this process, bound to ``exchange``."""
        queue = await channel.declare_queue(
            self.topology.instance_queue(purpose, instance), exclusive=True, auto_delete=True
        )
        for key in bindings:
            await queue.bind(exchange, key)
        return queue

    def _channel(self) -> aio_pika.abc.AbstractChannel:
        if self._publisher is None:
            raise BrokerUnavailableError("not connected")
        return self._publisher


async def _declare_topic(
    channel: aio_pika.abc.AbstractChannel, name: str
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(name, type=aio_pika.ExchangeType.TOPIC, durable=True)


def broker_user(url: str) -> str:
    """The user an AMQP URL logs in as (AMQP's default, ``guest``, when it names none)."""
    return unquote(urlsplit(url).username or "") or "guest"
