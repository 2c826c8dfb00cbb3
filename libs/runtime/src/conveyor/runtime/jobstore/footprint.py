"""What job records cost Redis, measured on the keys the job store owns (``layout``).

``MEMORY USAGE ... SAMPLES 0`` sizes each key exactly, so a shared Redis's other tenants do
not disturb the figures (``bench.footprint`` prints them; SCALING.md uses them).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys


@dataclass(frozen=True, slots=True)
class Footprint:
    """Mean bytes per job of a sample of records, and what an owner's history costs."""

    record_bytes: float
    """The record's hash."""
    history_bytes: float
    """The job's event stream (a short one costs one whole listpack node)."""
    events_per_job: float
    owner_event_bytes: float
    """One event in the owner's stream (long, so per event is meaningful)."""
    index_bytes_per_job: float
    """The job's entries in the all-jobs and owner indexes."""


async def _size(redis: Redis, key: str) -> int:
    return int(await redis.memory_usage(key, samples=0) or 0)


async def measure(redis: Redis, keys: Keys, owner: str, job_ids: list[str]) -> Footprint:
    """The footprint of ``job_ids``, all of them ``owner``'s (and the owner's only jobs)."""
    sample = job_ids[:: max(1, len(job_ids) // 200)]
    records = [await _size(redis, keys.job(job_id)) for job_id in sample]
    histories = [await _size(redis, keys.job_events(job_id)) for job_id in sample]
    events = [int(await redis.xlen(keys.job_events(job_id))) for job_id in sample]
    owner_stream = await _size(redis, keys.owner_events(owner))
    owner_events = int(await redis.xlen(keys.owner_events(owner)))
    indexes = 0.0
    for index in (keys.all_jobs, keys.owner_jobs(owner)):
        indexes += await _size(redis, index) / max(1, int(await redis.zcard(index)))
    return Footprint(
        record_bytes=statistics.mean(records),
        history_bytes=statistics.mean(histories),
        events_per_job=statistics.mean(events),
        owner_event_bytes=owner_stream / max(1, owner_events),
        index_bytes_per_job=indexes,
    )
