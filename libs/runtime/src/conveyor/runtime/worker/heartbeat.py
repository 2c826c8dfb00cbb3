"""Worker heartbeats: a Redis key with a TTL per instance, refreshed every few seconds."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.contracts.codecs import encode
from conveyor.contracts.heartbeats import WorkerHeartbeat
from conveyor.contracts.jobs import utcnow
from conveyor.contracts.keys import Keys

log = logging.getLogger(__name__)


class Heartbeat:
    """Publishes this worker's state; a worker whose key expired is considered dead."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        service: str,
        instance: str,
        concurrency: int,
        job_types: list[str],
        interval: float,
        snapshot: Callable[[], tuple[list[str], int, int]],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._interval = interval
        self._snapshot = snapshot
        self._base = dict(
            service=service,
            instance=instance,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=concurrency,
            job_types=job_types,
            started_at=utcnow(),
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def beat(self) -> None:
        running, processed, failed = self._snapshot()
        now = utcnow()
        beat = WorkerHeartbeat(
            **self._base,  # type: ignore[arg-type]
            running_jobs=running,
            processed=processed,
            failed=failed,
            seen_at=now,
        )
        instance = str(self._base["instance"])
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.worker(instance), encode(beat), ex=int(self._interval * 3) + 1)
            pipe.zadd(self._keys.workers, {instance: now.timestamp()})
            pipe.hset(self._keys.worker_registry, instance, encode(beat))
            await pipe.execute()

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except RedisError as exc:
                log.warning("heartbeat not written: %s", exc)
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        """Stop beating and remove this instance's key (a clean exit is not a death)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        instance = str(self._base["instance"])
        try:
            await self._redis.delete(self._keys.worker(instance))
            await self._redis.zrem(self._keys.workers, instance)
            await self._redis.hdel(self._keys.worker_registry, instance)
        except RedisError as exc:
            log.warning("heartbeat key not removed: %s", exc)
