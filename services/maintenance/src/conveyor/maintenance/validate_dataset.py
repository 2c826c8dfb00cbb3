"""The integrity-validation job: check the parquet dataset, report counts per problem."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from conveyor.awards.schema import DATASET_DIR, dataset_version
from conveyor.contracts.events import DatasetValidationFailed
from conveyor.contracts.jobs import MaintenanceReport, ValidateDatasetRequest
from conveyor.maintenance.dataset_checks import check_dataset
from conveyor.maintenance.domain_events import publish_domain_event
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.broker import Broker
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)


async def validate_dataset(
    request: ValidateDatasetRequest,
    *,
    job: JobContext,
    broker: Broker,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Run ``check_dataset`` in a thread; emit ``dataset.validation_failed`` if it finds any."""
    directory = settings.data_dir / DATASET_DIR
    version = await asyncio.to_thread(
        lambda: dataset_version(directory) if directory.is_dir() else "none"
    )
    report = await asyncio.to_thread(
        check_dataset,
        directory,
        version=version,
        max_examples=request.max_examples,
        today=dt.datetime.now(dt.UTC).date(),
        progress=job.report_progress_threadsafe,
    )
    if report.problems:
        log.warning(
            "dataset %s has problems: %s",
            version,
            {p.kind: p.count for p in report.problems},
        )
        await publish_domain_event(
            broker, DatasetValidationFailed(version=version, problems=report.problems)
        )
    return MaintenanceReport(
        counts={"rows": report.rows, "files": report.files}
        | {p.kind: p.count for p in report.problems},
        examples={p.kind: p.examples for p in report.problems if p.examples},
        details={"dataset_version": version, "ok": "false" if report.problems else "true"},
    )
