"""Counting jobs by creation time from the time index, for dashboards and rates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from conveyor.contracts.keys import Keys


@dataclass(frozen=True, slots=True)
class CreatedCount:
    """Jobs of one type, in one state now, created in one time bucket."""

    job_type: str
    state: str
    bucket: int
    count: int


@dataclass(frozen=True, slots=True)
class CreatedSlice:
    """One slice of a window's count: how many ids it scanned and what it counted."""

    scanned: int
    counts: list[CreatedCount]


async def count_created_slice(
    script: AsyncScript,
    keys: Keys,
    *,
    since_ms: int,
    until_ms: int,
    offset: int,
    count: int,
    bucket_ms: int,
    buckets: int,
) -> CreatedSlice:
    result: Any = await script(
        keys=[keys.all_jobs],
        args=[keys.job(""), since_ms, until_ms, offset, count, bucket_ms, buckets],
    )
    flat = result[1]
    counts = []
    for key, n in zip(flat[::2], flat[1::2], strict=True):
        job_type, state, bucket = key.decode().rsplit(" ", 2)
        counts.append(CreatedCount(job_type, state, int(bucket), int(n)))
    return CreatedSlice(int(result[0]), counts)


async def sample_created_types(
    redis: Redis, keys: Keys, since_ms: int, sample: int
) -> tuple[int, list[str]]:
    """How many jobs were created since ``since_ms``, and the types of the newest ``sample``.

    The total is exact (``ZCOUNT``); the types cost one bounded read, not one per job.
    """
    total: int = await redis.zcount(keys.all_jobs, since_ms, "+inf")
    if not total:
        return 0, []
    ids: Any = await redis.zrevrangebyscore(keys.all_jobs, "+inf", since_ms, start=0, num=sample)
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(keys.job(job_id.decode()), "job_type")
        types = [t.decode() for t in await pipe.execute() if t is not None]
    return total, types
