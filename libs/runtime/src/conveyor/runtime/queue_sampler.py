"""Queue depth and consumer counts from passive queue declares (no management plugin needed).

A passive ``queue.declare`` answers with the queue's ready-message and consumer counts. The
gateway samples on each ``/metrics`` scrape (at most once per ``min_interval``), so the figures
are as fresh as Prometheus asks for and an unscraped gateway costs the broker nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError

from conveyor.contracts.topology import SERVICE_BINDINGS
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.transport.amqp_passive import PassiveDeclares

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
        self._declares = PassiveDeclares()
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

    async def _sample(self) -> None:
        prefix = f"{self.broker.topology.namespace}."
        for queue in self.queues():
            label = queue.removeprefix(prefix)
            # Not declared (yet): counted as empty.
            counts = await self._declares.counts(self.broker.connection, queue)
            messages, consumers = counts if counts is not None else (0, 0)
            self.metrics.queue_messages.labels(label).set(messages)
            self.metrics.queue_consumers.labels(label).set(consumers)

    async def close(self) -> None:
        await self._declares.close()
