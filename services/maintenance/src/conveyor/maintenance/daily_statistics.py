"""The daily-statistics job: compute the dataset's headline numbers and cache them in Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from pathlib import Path

import polars as pl

from conveyor.awards.schema import AWARDS_SCHEMA, DATASET_DIR, dataset_version, scan_dataset
from conveyor.contracts.jobs import ComputeDailyStatisticsRequest, MaintenanceReport, utcnow
from conveyor.contracts.statistics import DailyStatistics
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.statistics_store import StatisticsStore
from conveyor.runtime.worker import JobContext


def compute_statistics(directory: Path, day: dt.date, version: str) -> DailyStatistics:
    """Headline numbers over the awards dated up to ``day`` (pure polars; run it in a thread)."""
    frame = scan_dataset(directory) if directory.is_dir() else pl.LazyFrame(schema=AWARDS_SCHEMA)
    amount = pl.col("contract_amount")
    on_day = pl.col("award_date") == day
    row = (
        frame.filter(pl.col("award_date") <= day)
        .select(
            pl.len().alias("awards"),
            amount.sum().alias("total"),
            amount.mean().alias("average"),
            amount.median().alias("median"),
            pl.col("awardee_name").n_unique().alias("contractors"),
            pl.col("procuring_entity").n_unique().alias("entities"),
            pl.col("award_date").min().alias("first"),
            pl.col("award_date").max().alias("last"),
            on_day.sum().alias("day_awards"),
            amount.filter(on_day).sum().alias("day_total"),
        )
        .collect()
        .row(0, named=True)
    )
    return DailyStatistics(
        day=day,
        dataset_version=version,
        computed_at=utcnow(),
        awards=int(row["awards"]),
        total_contract_amount=float(row["total"] or 0.0),
        average_contract_amount=row["average"],
        median_contract_amount=row["median"],
        # n_unique counts a null as one value; an empty frame has none.
        contractors=int(row["contractors"]) if row["awards"] else 0,
        procuring_entities=int(row["entities"]) if row["awards"] else 0,
        first_award_date=row["first"],
        last_award_date=row["last"],
        day_awards=int(row["day_awards"] or 0),
        day_contract_amount=float(row["day_total"] or 0.0),
    )


async def compute_daily_statistics(
    request: ComputeDailyStatisticsRequest,
    *,
    job: JobContext,
    statistics: StatisticsStore,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Cache the numbers under ``statistics:<day>`` (kept ``statistics_ttl_days``) and
    ``statistics:latest``; the day defaults to yesterday in the schedules' timezone."""
    tz = zoneinfo.ZoneInfo(settings.schedule_timezone)
    day = request.day or (dt.datetime.now(tz).date() - dt.timedelta(days=1))
    directory = settings.data_dir / DATASET_DIR
    version = await asyncio.to_thread(
        lambda: dataset_version(directory) if directory.is_dir() else "none"
    )
    stats = await asyncio.to_thread(compute_statistics, directory, day, version)
    key = await statistics.save(stats, ttl_seconds=int(settings.statistics_ttl_days * 86400))
    job.report_progress(1, 1, "statistics cached")
    return MaintenanceReport(
        counts={"awards": stats.awards, "day_awards": stats.day_awards},
        details={
            "day": day.isoformat(),
            "dataset_version": version,
            "total_contract_amount": f"{stats.total_contract_amount:.2f}",
            "cache_key": key,
        },
    )
