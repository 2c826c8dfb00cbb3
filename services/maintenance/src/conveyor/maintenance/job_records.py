"""Removing job records with everything that points at them (indexes, event history)."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys


async def delete_job_records(redis: Redis, keys: Keys, jobs: Iterable[tuple[str, str]]) -> int:
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
