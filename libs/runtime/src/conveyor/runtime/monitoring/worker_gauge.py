"""The ``conveyor_workers`` gauge: worker instances per service and state, from heartbeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.contracts.keys import Keys
from conveyor.contracts.monitoring import WorkerInfo, WorkerStatus
from conveyor.contracts.topology import SERVICE_BINDINGS
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.monitoring.workers import list_workers

log = logging.getLogger(__name__)


def count_workers(
    workers: Iterable[WorkerInfo], services: Iterable[str]
) -> dict[tuple[str, str], int]:
    """Instances per ``(service, state)``; every known service gets both states, zero included,
    so "no live worker" is a series with value 0 rather than a missing one."""
    counts = {(service, state.value): 0 for service in services for state in WorkerStatus}
    for worker in workers:
        key = (worker.service, worker.status.value)
        counts[key] = counts.get(key, 0) + 1
    return counts


class WorkerGauge:
    """Keeps ``conveyor_workers`` up to date by reading the worker registry every ``interval``."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        *,
        interval: float,
        services: Iterable[str] = SERVICE_BINDINGS,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._metrics = metrics
        self._interval = interval
        self._services = tuple(services)
        self._shown: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Set the gauge from the registry now; a series no longer counted drops to 0."""
        counts = count_workers(await list_workers(self._redis, self._keys), self._services)
        for key in self._shown - counts.keys():
            counts[key] = 0
        for (service, state), value in counts.items():
            self._metrics.workers.labels(service, state).set(value)
        self._shown |= counts.keys()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="worker-gauge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except RedisError as exc:  # keep the last values; the next round tries again
                log.warning("worker gauge not refreshed: %s", exc)
            await asyncio.sleep(self._interval)
