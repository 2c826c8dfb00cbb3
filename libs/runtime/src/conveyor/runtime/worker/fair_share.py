"""Fair share between owners: one owner's backlog never takes every slot of a worker.

A worker runs at most ``owner_concurrency`` interactive jobs of one owner at once (default:
its concurrency less one), so one slot stays free for other owners. A message of an owner
already at that cap is set aside: published again through a delay queue (confirmed; same
body and headers, at bulk priority; the attempt is not counted) and acked, so the worker
moves on. Another owner's interactive job is then delivered first: the gateway queues a
user's jobs beyond the first few in flight at bulk priority too
(``conveyor.runtime.limits.queue_priority``), so a backlog never stands in front of it.

Only interactive jobs are capped: bulk and scheduled jobs already wait behind interactive
ones by AMQP priority, and capping them would cost throughput with nobody to gain from it.
"""

from __future__ import annotations

import logging
from collections import Counter

from conveyor.contracts.jobs import JobEnvelope, Priority
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)


def owner_cap(concurrency: int, owner_concurrency: int) -> int:
    """Slots one owner may hold: the setting, or the concurrency less one (at least 1)."""
    return owner_concurrency or max(1, concurrency - 1)


class OwnerShares:
    """Counts the interactive jobs this worker runs per owner against the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._running: Counter[str] = Counter()

    def take(self, envelope: JobEnvelope) -> bool:
        """Take a slot for the envelope's owner; ``False`` if the owner is at the cap."""
        if envelope.priority is not Priority.INTERACTIVE:
            return True
        if self._running[envelope.owner] >= self.cap:
            return False
        self._running[envelope.owner] += 1
        return True

    def release(self, envelope: JobEnvelope) -> None:
        if envelope.priority is not Priority.INTERACTIVE:
            return
        self._running[envelope.owner] -= 1
        if self._running[envelope.owner] <= 0:
            del self._running[envelope.owner]

    def running(self, owner: str) -> int:
        return self._running[owner]


async def set_aside(
    broker: Broker, message: Delivery, envelope: JobEnvelope, delay_seconds: float
) -> None:
    """Send ``message`` round again after ``delay_seconds`` (confirmed); the caller acks it."""
    await broker.publish_delayed(
        message.routing_key or job_routing_key(envelope.job_type),
        message.body,
        max(1, round(delay_seconds * 1000)),
        headers=dict(message.headers),
        # Back behind other owners' interactive jobs, as the gateway queues a backlog.
        priority=min(envelope.priority.amqp_priority, Priority.BULK.amqp_priority),
    )
