"""The retention job: remove job records and event history older than the retention period."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from conveyor.contracts.jobs import MaintenanceReport, PurgeExpiredJobsRequest, utcnow
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)


async def purge_expired_jobs(
    request: PurgeExpiredJobsRequest,
    *,
    job: JobContext,
    store: JobStore,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Delete jobs created before the cutoff, except those still queued, running or retrying.

    Records also expire by TTL; the job store's retention removes what a TTL cannot reach:
    index entries of expired records, and owners' event streams trimmed to the cutoff.
    """
    days = request.older_than_days or settings.job_retention_days
    cutoff = utcnow() - dt.timedelta(days=days)
    purged = await store.purge_created_before(
        int(cutoff.timestamp() * 1000),
        on_batch=lambda removed: job.report_progress(removed, None, f"{removed} removed"),
    )
    counts = dataclasses.asdict(purged)
    examples: list[str] = counts.pop("examples")
    log.info("retention (%s days): %s", days, counts)
    return MaintenanceReport(
        counts=counts,
        examples={"records_removed": examples} if examples else {},
        details={"cutoff": cutoff.isoformat(), "retention_days": str(days)},
    )
