"""Removing job records past retention, with their index entries and owners' old events.

Records and their histories also expire by TTL (set by the scripts); this removes what a TTL
cannot reach: index entries of records already gone, and owners' event streams before a cutoff.
Jobs still queued, running or retrying are kept whatever their age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys

BATCH = 500


@dataclass(slots=True)
class Purged:
    """What ``purge_created_before`` removed; ``examples``: up to ten removed job ids."""

    records_removed: int = 0
    index_entries_removed: int = 0
    kept_active: int = 0
    owner_events_trimmed: int = 0
    examples: list[str] = field(default_factory=list)


async def delete_records(redis: Redis, keys: Keys, jobs: Iterable[tuple[str, str]]) -> int:
    """Delete each ``(job id, owner)``'s record and event stream and drop it from the indexes.

    Returns how many records existed. The owner's event stream is left alone: it is capped,
    expires by itself, and a resuming reader skips events of jobs that are gone.
    """
    jobs = list(jobs)
    if not jobs:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for job_id, owner in jobs:
            pipe.delete(keys.job(job_id))
            pipe.delete(keys.job_events(job_id))
            pipe.zrem(keys.all_jobs, job_id)
            pipe.zrem(keys.owner_jobs(owner), job_id)
            pipe.srem(keys.active_jobs, job_id)
        results = await pipe.execute()
    return sum(1 for i in range(0, len(results), 5) if results[i])


async def purge_created_before(
    redis: Redis, keys: Keys, cutoff_ms: int, on_batch: Callable[[int], None] | None = None
) -> Purged:
    """Delete jobs created before ``cutoff_ms`` (unix ms) except active ones.

    ``on_batch`` gets the records removed so far after each batch (for progress reports).
    """
    members: Any = await redis.smembers(keys.active_jobs)
    active = {m.decode() for m in members}
    purged = Purged()
    skip = 0
    while True:
        raw: Any = await redis.zrangebyscore(
            keys.all_jobs, "-inf", cutoff_ms, start=skip, num=BATCH
        )
        ids = [m.decode() for m in raw]
        if not ids:
            break
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(job_id), "owner")
            owners = await pipe.execute()
        doomed, dangling = [], []
        for job_id, owner in zip(ids, owners, strict=True):
            if job_id in active and owner is not None:
                skip += 1
                purged.kept_active += 1
            elif owner is None:
                dangling.append(job_id)
            else:
                doomed.append((job_id, owner.decode()))
        purged.records_removed += await delete_records(redis, keys, doomed)
        if dangling:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.all_jobs, *dangling)
                pipe.srem(keys.active_jobs, *dangling)
                for job_id in dangling:
                    pipe.delete(keys.job_events(job_id))
                await pipe.execute()
            purged.index_entries_removed += len(dangling)
        purged.examples += [job_id for job_id, _ in doomed][: max(0, 10 - len(purged.examples))]
        if on_batch is not None:
            on_batch(purged.records_removed)
        if len(ids) < BATCH:
            break
    purged.index_entries_removed += await _trim_owner_indexes(redis, keys, cutoff_ms, active)
    purged.owner_events_trimmed = await _trim_owner_streams(redis, keys, cutoff_ms)
    return purged


async def _trim_owner_indexes(redis: Redis, keys: Keys, cutoff_ms: int, active: set[str]) -> int:
    """Owner indexes may still list records already gone (deleted above, or expired)."""
    removed = 0
    async for name in redis.scan_iter(match=keys.owner_jobs("*"), count=1000):
        members: Any = await redis.zrangebyscore(name, "-inf", cutoff_ms)
        old = [m.decode() for m in members]
        stale = [job_id for job_id in old if job_id not in active]
        if stale:
            removed += await redis.zrem(name, *stale)
    return removed


async def _trim_owner_streams(redis: Redis, keys: Keys, cutoff_ms: int) -> int:
    """Owner event streams use time-based entry ids: trim everything before the cutoff."""
    trimmed = 0
    async for name in redis.scan_iter(match=keys.owner_events("*"), count=1000):
        trimmed += await redis.xtrim(name, minid=f"{cutoff_ms}-0", approximate=False)
    return trimmed
