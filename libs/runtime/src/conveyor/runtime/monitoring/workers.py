"""Reading the worker registry that heartbeats keep in Redis; silent workers are dead."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.heartbeats import WorkerHeartbeat
from conveyor.contracts.jobs import utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.monitoring import WorkerInfo, WorkerStatus

log = logging.getLogger(__name__)

FORGET_AFTER = dt.timedelta(days=1)
"""A dead worker stays listed this long, then its registry entry is dropped."""

_decoder = msgspec.json.Decoder(WorkerHeartbeat)


async def list_workers(
    redis: Redis, keys: Keys, *, now: dt.datetime | None = None
) -> list[WorkerInfo]:
    """Every registered worker, alive ones first, then by service and instance.

    Alive means its heartbeat key still exists: the worker sets that key's TTL to a few of
    its own heartbeat intervals, so "silent for too long" needs no interval here.
    """
    now = now or utcnow()
    raw: Any = await redis.hgetall(keys.worker_registry)
    async with redis.pipeline(transaction=False) as pipe:
        for instance in raw:
            pipe.exists(keys.worker(instance.decode()))
        alive = dict(zip(raw, await pipe.execute(), strict=True))
    workers: list[WorkerInfo] = []
    forget: list[str] = []
    for instance, body in raw.items():
        try:
            beat = _decoder.decode(body)
        except msgspec.MsgspecError as exc:
            log.warning("ignoring an undecodable heartbeat of %r: %s", instance, exc)
            continue
        age = max(0.0, (now - beat.seen_at).total_seconds())
        if age > FORGET_AFTER.total_seconds():
            forget.append(beat.instance)
            continue
        status = WorkerStatus.ALIVE if alive[instance] else WorkerStatus.DEAD
        workers.append(_info(beat, age, status))
    if forget:
        await redis.hdel(keys.worker_registry, *forget)
        await redis.zrem(keys.workers, *forget)
    workers.sort(key=lambda w: (w.status != WorkerStatus.ALIVE, w.service, w.instance))
    return workers


def _info(beat: WorkerHeartbeat, age: float, status: WorkerStatus) -> WorkerInfo:
    return WorkerInfo(
        service=beat.service,
        instance=beat.instance,
        host=beat.host,
        pid=beat.pid,
        concurrency=beat.concurrency,
        running_jobs=beat.running_jobs,
        processed=beat.processed,
        failed=beat.failed,
        job_types=beat.job_types,
        started_at=beat.started_at,
        last_seen=beat.seen_at,
        seconds_since_seen=round(age, 3),
        status=status,
    )
