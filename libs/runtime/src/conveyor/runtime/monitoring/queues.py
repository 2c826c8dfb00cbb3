"""Queue depth and consumers by passive ``queue.declare`` (RabbitMQ 3.10, no management API).

Rates come from sampling: each reading stores the depth in Redis, and the next reading (by
any gateway replica) turns the difference into messages per second. The enqueue rate of a
service queue is counted from the job index (jobs of its types created in the last minute).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika.abc
from aio_pika.exceptions import ChannelNotFoundEntity
from redis.asyncio import Redis

from conveyor.contracts.jobs import JOB_REQUEST_TYPES
from conveyor.contracts.keys import Keys
from conveyor.contracts.monitoring import QueueInfo, QueueKind
from conveyor.contracts.topology import SERVICE_BINDINGS, job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore

RATE_WINDOW_SECONDS = 60
RATE_SAMPLE = 2000
SAMPLE_TTL_SECONDS = 3600


def binding_matches(binding: str, routing_key: str) -> bool:
    """Topic-exchange matching of one binding key (``*`` one word, ``#`` zero or more)."""

    def match(b: list[str], k: list[str]) -> bool:
        if not b:
            return not k
        if b[0] == "#":
            return any(match(b[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and (b[0] in ("*", k[0])) and match(b[1:], k[1:])

    return match(binding.split("."), routing_key.split("."))


def service_job_types(service: str) -> list[str]:
    """The known job types routed to ``service``'s queue."""
    bindings = SERVICE_BINDINGS[service]
    routed = (
        t
        for t in JOB_REQUEST_TYPES
        if any(binding_matches(b, job_routing_key(t)) for b in bindings)
    )
    return sorted(routed)


async def _declare_passive(broker: Broker, name: str) -> aio_pika.abc.AbstractQueue | None:
    # A passive declare of a missing queue closes the channel: one channel per lookup.
    channel = await broker.open_channel()
    try:
        return await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()


async def inspect_queues(broker: Broker, store: JobStore, *, paused: set[str]) -> list[QueueInfo]:
    """Service queues, the dead-letter queue, and parked queues that are paused or non-empty."""
    redis, keys = store.redis, store.keys  # the depth samples share the store's namespace
    t = broker.topology
    wanted: list[tuple[str, QueueKind, list[str]]] = [
        (name, QueueKind.SERVICE, service_job_types(s))
        for s in SERVICE_BINDINGS
        for name, _ in t.job_queues(s)
    ]
    wanted.append((t.dead_letter_queue, QueueKind.DEAD_LETTERS, []))
    wanted += [(t.parked_queue(jt), QueueKind.PARKED, [jt]) for jt in sorted(JOB_REQUEST_TYPES)]
    declared = await asyncio.gather(*(_declare_passive(broker, name) for name, _, _ in wanted))
    created = await _created_last_window(store)
    now = time.time()
    infos: list[QueueInfo] = []
    for (name, kind, job_types), queue in zip(wanted, declared, strict=True):
        if queue is None:
            continue
        result = queue.declaration_result
        messages = int(result.message_count or 0)
        if kind is QueueKind.PARKED and not messages and job_types[0] not in paused:
            continue
        info = QueueInfo(
            name=name,
            kind=kind,
            job_types=job_types,
            messages=messages,
            consumers=int(result.consumer_count or 0),
        )
        await _apply_rate(redis, keys, info, now)
        if kind is QueueKind.SERVICE:
            count = sum(created.get(jt, 0) for jt in job_types)
            info.enqueued_per_second = round(count / RATE_WINDOW_SECONDS, 3)
        infos.append(info)
    return infos


async def _apply_rate(redis: Redis, keys: Keys, info: QueueInfo, now: float) -> None:
    key = keys.queue_sample(info.name)
    previous: Any = await redis.getset(key, f"{now} {info.messages}")
    await redis.expire(key, SAMPLE_TTL_SECONDS)
    if previous is None:
        return
    then, depth = (float(x) for x in previous.decode().split())
    elapsed = now - then
    if elapsed > 0:
        info.depth_rate = round((info.messages - depth) / elapsed, 3)
        info.sampled_seconds = round(elapsed, 3)


async def _created_last_window(store: JobStore) -> dict[str, float]:
    """Jobs created in the last ``RATE_WINDOW_SECONDS``, by type (from the time index).

    The total is exact (``ZCOUNT``); the split by type comes from at most ``RATE_SAMPLE`` of
    the newest ids, so a busy minute costs one bounded read, not one per job.
    """
    since_ms = int((time.time() - RATE_WINDOW_SECONDS) * 1000)
    total, types = await store.sample_created_types(since_ms, RATE_SAMPLE)
    if not types:
        return {}
    scale = total / len(types)
    counts: dict[str, float] = {}
    for job_type in types:
        counts[job_type] = counts.get(job_type, 0.0) + scale
    return counts
