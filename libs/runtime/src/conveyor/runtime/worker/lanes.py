"""Deliveries held beyond the concurrency run highest priority first.

Quorum queues have no AMQP priorities, so a service has one queue per priority lane and a
worker consumes all of them, each with the channel's per-consumer prefetch (quorum queues do
not take a channel-wide one). Up to a prefetch of each lane is delivered at once, but only
``slots`` (the concurrency) run: the rest wait here, and each freed slot goes to the waiting
delivery of highest priority (its AMQP priority, else its lane's), oldest first. A lane's
backlog is never in front of a higher lane's job, which a broker delivers from its own queue.
A classic queue orders by priority itself; a worker whose ``CONVEYOR_PREFETCH`` exceeds its
concurrency holds the surplus here too, so a held bulk job never runs ahead of a later
interactive one.

Each lane's default prefetch is twice the concurrency (``worker_prefetch``): with only the
concurrency, a lane whose jobs fill every slot has no delivery in reserve, and each slot it
frees would go to a lower lane's waiting job before the broker's next delivery of its own
arrives (see docs/operations.md). The price: a busy worker holds up to that many deliveries
waiting for its own slots, which an idle worker cannot take meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable

from conveyor.contracts.topology import delivery_rank
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)


def worker_prefetch(concurrency: int, prefetch: int, *, quorum: bool) -> int:
    """The per-consumer prefetch of a worker's job queue (of each lane queue in quorum mode):
    ``prefetch`` if set, else the concurrency (twice it per lane: see the module docstring)."""
    if prefetch:
        return prefetch
    return 2 * concurrency if quorum else concurrency


class LaneGate:
    """Runs at most ``slots`` deliveries at once through ``start``, highest priority first.

    ``start`` begins processing a delivery; the caller reports each one's end with ``done``.
    """

    def __init__(self, slots: int, start: Callable[[Delivery], None]) -> None:
        self._slots = slots
        self._start = start
        self._running = 0
        self._order = itertools.count()
        self._waiting: list[tuple[int, int, Delivery]] = []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def offer(self, delivery: Delivery) -> None:
        """Run ``delivery`` now if a slot is free, else when its turn comes."""
        rank = delivery_rank(delivery.routing_key, delivery.priority)
        heapq.heappush(self._waiting, (-rank, next(self._order), delivery))
        self._dispatch()

    def done(self) -> None:
        """A started delivery finished: its slot goes to the next one."""
        self._running -= 1
        self._dispatch()

    def take_waiting(self) -> list[Delivery]:
        """Every delivery not started yet, for the caller to hand back (draining)."""
        waiting = [delivery for _, _, delivery in sorted(self._waiting)]
        self._waiting.clear()
        return waiting

    def _dispatch(self) -> None:
        while self._running < self._slots and self._waiting:
            _, _, delivery = heapq.heappop(self._waiting)
            if delivery.channel.is_closed:
                # The broker gave it back to the queue with its channel; running it would run
                # a job that is also on its way to another worker.
                log.info("dropping a waiting delivery of a closed channel (it is redelivered)")
                continue
            self._running += 1
            self._start(delivery)
