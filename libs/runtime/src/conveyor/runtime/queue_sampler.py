"""Queue depth and consumer counts from passive queue declares (no management plugin needed).

A passive ``queue.declare`` answers with the queue's ready-message and consumer counts. The
gateway samples on each ``/metrics`` scrape (at most once per ``min_interval``), so the figures
are as fresh as Prometheus asks for and an unscraped gateway costs the broker nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiormq.abc
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError

from conveyor.contracts.topology import SERVICE_BINDINGS
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.metrics import Metrics

log = logging.getLogger(__name__)


class QueueSampler:
    """Sets ``conveyor_queue_messages`` and ``conveyor_queue_consumers`` per job queue."""

    def __init__(
        self, broker: Broker, metrics: Metrics, *, min_interval: float = 1.0, timeout: float = 2.0
    ) -> None:
        self.broker = broker
        self.metrics = metrics
        self.min_interval = min_interval
        self.timeout = timeout
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._last = float("-inf")

    def queues(self) -> list[str]:
        """Every queue sampled: each service's job queue and the dead-letter queue."""
        t = self.broker.topology
        services = (name for s in SERVICE_BINDINGS for name, _ in t.job_queues(s))
        return [*services, t.dead_letter_queue]

    async def sample(self) -> None:
        """Refresh the gauges unless that happened less than ``min_interval`` ago.

        Never raises: with RabbitMQ unreachable the gauges keep their last values.
        """
        async with self._lock:
            if time.monotonic() - self._last < self.min_interval:
                return
            try:
                async with asyncio.timeout(self.timeout):
                    await self._sample()
                self._last = time.monotonic()
            except (BrokerUnavailableError, AMQPError, TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
                log.debug("queue sample skipped: %s", exc)
                self._channel = None

    async def _sample(self) -> None:
        prefix = f"{self.broker.topology.namespace}."
        for queue in self.queues():
            channel = await self._open()
            label = queue.removeprefix(prefix)
            try:
                declared = await channel.queue_declare(queue, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                # Not declared (yet): the channel is closed by the broker; use a new one.
                self._channel = None
                self.metrics.queue_messages.labels(label).set(0)
                self.metrics.queue_consumers.labels(label).set(0)
                continue
            self.metrics.queue_messages.labels(label).set(declared.message_count or 0)
            self.metrics.queue_consumers.labels(label).set(declared.consumer_count or 0)

    async def _open(self) -> aiormq.abc.AbstractChannel:
        # A plain (not robust) channel: a passive declare must not be replayed on reconnect.
        if self._channel is None or self._channel.is_closed:
            transport = self.broker.connection.transport
            if transport is None:  # reconnecting
                raise BrokerUnavailableError("sample queues")
            self._channel = await transport.connection.channel()
        return self._channel

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
