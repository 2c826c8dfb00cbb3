"""The retention job: remove job records and event history older than the retention period."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from conveyor.contracts.jobs import MaintenanceReport, PurgeExpiredJobsRequest, utcnow
from conveyor.maintenance.job_records import delete_job_records
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.resources import Resources
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)

BATCH = 500


async def purge_expired_jobs(
    request: PurgeExpiredJobsRequest,
    *,
    job: JobContext,
    resources: Resources,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Delete jobs created before the cutoff, except those still queued, running or retrying.

    Records also expire by TTL; this removes what a TTL cannot reach: index entries of
    expired records, and owners' event streams trimmed to the cutoff.
    """
    days = request.older_than_days or settings.job_retention_days
    cutoff = utcnow() - dt.timedelta(days=days)
    cutoff_ms = int(cutoff.timestamp() * 1000)
    redis, keys = resources.redis, resources.keys
    members: Any = await redis.smembers(keys.active_jobs)
    active = {m.decode() for m in members}
    counts = dict.fromkeys(("records_removed", "index_entries_removed", "kept_active"), 0)
    examples: list[str] = []
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
                counts["kept_active"] += 1
            elif owner is None:
                dangling.append(job_id)
            else:
                doomed.append((job_id, owner.decode()))
        counts["records_removed"] += await delete_job_records(redis, keys, doomed)
        if dangling:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.all_jobs, *dangling)
                pipe.srem(keys.active_jobs, *dangling)
                for job_id in dangling:
                    pipe.delete(keys.job_events(job_id))
                await pipe.execute()
            counts["index_entries_removed"] += len(dangling)
        examples += [job_id for job_id, _ in doomed][: max(0, 10 - len(examples))]
        job.report_progress(counts["records_removed"], None, f"{counts['records_removed']} removed")
        if len(ids) < BATCH:
            break
    counts["index_entries_removed"] += await _trim_owner_indexes(resources, cutoff_ms, active)
    counts["owner_events_trimmed"] = await _trim_owner_streams(resources, cutoff_ms)
    log.info("retention (%s days): %s", days, counts)
    return MaintenanceReport(
        counts=counts,
        examples={"records_removed": examples} if examples else {},
        details={"cutoff": cutoff.isoformat(), "retention_days": str(days)},
    )


async def _trim_owner_indexes(resources: Resources, cutoff_ms: int, active: set[str]) -> int:
    """Owner indexes may still list records already gone (deleted above, or expired)."""
    redis, keys = resources.redis, resources.keys
    removed = 0
    async for name in redis.scan_iter(match=keys.owner_jobs("*"), count=1000):
        members: Any = await redis.zrangebyscore(name, "-inf", cutoff_ms)
        old = [m.decode() for m in members]
        stale = [job_id for job_id in old if job_id not in active]
        if stale:
            removed += await redis.zrem(name, *stale)
    return removed


async def _trim_owner_streams(resources: Resources, cutoff_ms: int) -> int:
    """Owner event streams use time-based entry ids: trim everything before the cutoff."""
    redis, keys = resources.redis, resources.keys
    trimmed = 0
    async for name in redis.scan_iter(match=keys.owner_events("*"), count=1000):
        trimmed += await redis.xtrim(name, minid=f"{cutoff_ms}-0", approximate=False)
    return trimmed
