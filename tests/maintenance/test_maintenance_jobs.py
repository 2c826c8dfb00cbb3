"""Each maintenance job, run by a real maintenance process, checked on real files and keys."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika.abc
import msgspec
import polars as pl
import pytest
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR, conform, data_file_name, scan_dataset
from conveyor.contracts.codecs import event_decoder
from conveyor.contracts.events import (
    AnyEvent,
    DatasetValidationFailed,
    JobQueued,
    JobSucceeded,
    SystemHealthReported,
)
from conveyor.contracts.jobs import (
    CheckSystemHealthRequest,
    CleanupExportsRequest,
    ComputeDailyStatisticsRequest,
    ExportRequest,
    FileResult,
    JobEnvelope,
    JobRequest,
    MaintenanceReport,
    PurgeExpiredJobsRequest,
    ValidateDatasetRequest,
    utcnow,
)
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.statistics import DailyStatistics
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.maintenance.support import FAST_SCHEDULER_ENV
from tests.support.jobs import MAINTENANCE, wait_for_state
from tests.support.services import ServiceProcess, running_worker

HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("maintenance-data")
    generate(2_000, root / DATASET_DIR, seed=3, chunk_rows=1_000, contractors=300)
    return root


@pytest.fixture(scope="module")
async def maintenance(
    module_namespace: str, redis: Redis, data_dir: Path
) -> AsyncIterator[ServiceProcess]:
    env = {**FAST_SCHEDULER_ENV, "CONVEYOR_DATA_DIR": str(data_dir)}
    async with running_worker(MAINTENANCE, module_namespace, redis, **env) as worker:
        yield worker


@contextlib.asynccontextmanager
async def domain_events(broker: Broker, *bindings: str) -> AsyncIterator[list[AnyEvent]]:
    received: list[AnyEvent] = []
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for binding in bindings:
        await queue.bind(broker.topology.events, binding)

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.append(event_decoder.decode(message.body))

    await queue.consume(collect, no_ack=True)
    try:
        yield received
    finally:
        await channel.close()


async def run_job(
    lifecycle: JobLifecycle, store: JobStore, request: JobRequest
) -> MaintenanceReport:
    envelope = JobEnvelope(request=request, owner="tests", max_attempts=1)  # type: ignore[arg-type]
    await lifecycle.submit(envelope)
    record = await wait_for_state(
        store, envelope.job_id, {JobState.SUCCEEDED, JobState.FAILED}, timeout=30
    )
    assert record.state is JobState.SUCCEEDED, record.error
    assert isinstance(record.result, MaintenanceReport)
    return record.result


async def _wait_for(received: list[AnyEvent], kind: type, timeout: float = 10.0) -> AnyEvent:
    async with asyncio.timeout(timeout):
        while True:
            for event in received:
                if isinstance(event, kind):
                    return event
            await asyncio.sleep(0.05)


# -- cleanup -----------------------------------------------------------------------------------


async def _finished_export(
    store: JobStore, job_id: str, path: Path, expires_at: dt.datetime
) -> None:
    """A succeeded export job whose file is ``path`` (recorded as the worker records it)."""
    await asyncio.to_thread(path.write_bytes, b"a,b\n1,2\n")
    envelope = JobEnvelope(request=ExportRequest(format="csv"), job_id=job_id, owner="alice")
    await store.create(
        envelope, JobQueued(job_id=job_id, job_type="export", owner="alice"), trace_id=None
    )
    result = FileResult(
        filename="awards.csv",
        path=f"exports/{path.name}",
        media_type="text/csv",
        size_bytes=8,
        rows=1,
        expires_at=expires_at,
    )
    outcome = await store.transition(
        job_id,
        "alice",
        allowed=[JobState.QUEUED],
        to=JobState.SUCCEEDED,
        event=JobSucceeded(job_id=job_id, job_type="export", owner="alice", result=result),
        fields={"result": result, "expires_at": expires_at},
    )
    assert outcome.ok


def _age(path: Path, by: dt.timedelta) -> None:
    then = time.time() - by.total_seconds()
    os.utime(path, (then, then))


async def test_cleanup_removes_expired_exports_with_their_records_and_old_orphans(
    maintenance: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
    data_dir: Path,
) -> None:
    keys = Keys(module_namespace)
    exports = data_dir / "exports"
    exports.mkdir(exist_ok=True)
    now = utcnow()
    await _finished_export(module_store, "expiredjob", exports / "expiredjob.csv", now - HOUR)
    await _finished_export(module_store, "freshjob", exports / "freshjob.csv", now + HOUR)
    (exports / "lostjob.xlsx").write_bytes(b"x" * 100)
    _age(exports / "lostjob.xlsx", 7 * HOUR)
    (exports / "newjob.csv").write_bytes(b"being recorded")
    (exports / ".crashed.xlsx.tmp").write_bytes(b"x" * 50)
    _age(exports / ".crashed.xlsx.tmp", 7 * HOUR)
    (exports / ".writing.csv.tmp").write_bytes(b"in progress")

    report = await run_job(module_lifecycle, module_store, CleanupExportsRequest())

    assert sorted(p.name for p in exports.iterdir()) == [
        ".writing.csv.tmp",
        "freshjob.csv",
        "newjob.csv",
    ]
    assert report.counts == {
        "expired_files": 1,
        "orphaned_files": 1,
        "temporary_files": 1,
        "kept_files": 3,
        "records_removed": 1,
        "bytes_freed": 8 + 100 + 50,
    }
    assert report.examples["expired_files"] == ["expiredjob"]
    assert await module_store.get("expiredjob") is None
    assert not await redis.exists(keys.job_events("expiredjob"))
    assert await redis.zscore(keys.owner_jobs("alice"), "expiredjob") is None
    assert await redis.zscore(keys.all_jobs, "expiredjob") is None
    fresh = await module_store.get("freshjob")
    assert fresh is not None and fresh.state is JobState.SUCCEEDED


# -- validation --------------------------------------------------------------------------------


async def test_validation_reports_nothing_on_a_clean_dataset_then_each_planted_problem(
    maintenance: ServiceProcess,
    module_broker: Broker,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    async with domain_events(module_broker, "dataset.#") as received:
        clean = await run_job(module_lifecycle, module_store, ValidateDatasetRequest())
        assert clean.counts == {"rows": 2_000, "files": 2}
        assert clean.details["ok"] == "true"

        awards = data_dir / DATASET_DIR
        planted = conform(
            pl.DataFrame(
                {
                    "award_reference_no": ["BAD-1", "BAD-2", "BAD-2"],
                    "award_title": ["a", "b", "c"],
                    "awardee_name": ["x", "y", "z"],
                    "procuring_entity": ["p", "q", "r"],
                    "approved_budget": [10.0, 50.0, 50.0],
                    "contract_amount": [-3.0, 60.0, 40.0],
                    "award_date": [dt.date(1920, 1, 5), dt.date(2033, 6, 1), dt.date(2020, 1, 1)],
                }
            )
        )
        planted_path = awards / data_file_name(9)
        planted.write_parquet(planted_path)
        try:
            report = await run_job(
                module_lifecycle, module_store, ValidateDatasetRequest(max_examples=2)
            )
        finally:
            planted_path.unlink()
        event = await _wait_for(received, DatasetValidationFailed)

    assert report.details["ok"] == "false"
    assert report.counts == {
        "rows": 2_003,
        "files": 3,
        "negative_amount": 1,
        "implausible_award_date": 2,
        "budget_below_contract": 1,
        "duplicate_award_reference_no": 2,
    }
    assert report.examples["implausible_award_date"] == [
        "BAD-1: award_date 1920-01-05",
        "BAD-2: award_date 2033-06-01",
    ]
    assert isinstance(event, DatasetValidationFailed)
    assert {p.kind: p.count for p in event.problems} == {
        k: v for k, v in report.counts.items() if k not in ("rows", "files")
    }
    assert event.version == report.details["dataset_version"]
    assert sum(isinstance(e, DatasetValidationFailed) for e in received) == 1


# -- statistics --------------------------------------------------------------------------------


async def test_daily_statistics_are_computed_and_cached_in_redis(
    maintenance: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
    data_dir: Path,
) -> None:
    frame = scan_dataset(data_dir / DATASET_DIR).collect()
    day = frame["award_date"].sort()[len(frame) // 2]
    report = await run_job(module_lifecycle, module_store, ComputeDailyStatisticsRequest(day=day))
    keys = Keys(module_namespace)
    raw = await redis.get(keys.statistics(day.isoformat()))
    assert raw is not None
    stats = msgspec.json.decode(raw, type=DailyStatistics)
    upto = frame.filter(pl.col("award_date") <= day)
    on_day = frame.filter(pl.col("award_date") == day)
    assert stats.day == day
    assert stats.awards == upto.height == report.counts["awards"]
    assert stats.total_contract_amount == pytest.approx(upto["contract_amount"].sum())
    assert stats.median_contract_amount == pytest.approx(upto["contract_amount"].median())
    assert stats.contractors == upto["awardee_name"].n_unique()
    assert stats.last_award_date == day
    assert stats.day_awards == on_day.height >= 1
    assert stats.day_contract_amount == pytest.approx(on_day["contract_amount"].sum())
    assert await redis.get(keys.latest_statistics) == raw
    assert 0 < await redis.ttl(keys.statistics(day.isoformat())) <= 30 * 86_400


# -- health ------------------------------------------------------------------------------------


async def test_the_health_check_reports_each_part_and_a_worker_that_stopped_beating(
    maintenance: ServiceProcess,
    module_broker: Broker,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
) -> None:
    keys = Keys(module_namespace)
    await redis.zadd(keys.workers, {"ghost-1": time.time() - 60})
    try:
        async with domain_events(module_broker, "system.health") as received:
            report = await run_job(module_lifecycle, module_store, CheckSystemHealthRequest())
            event = await _wait_for(received, SystemHealthReported)
    finally:
        await redis.zrem(keys.workers, "ghost-1")
    assert isinstance(event, SystemHealthReported)
    checks = {c.name: c for c in event.checks}
    assert set(checks) >= {"redis", "workers", "rabbitmq", "dead_letters", "disk"}
    assert any(name.startswith("backlog:") for name in checks)
    assert checks["redis"].ok and checks["rabbitmq"].ok
    assert not checks["workers"].ok
    assert "ghost-1" in checks["workers"].detail and "1 live" in checks["workers"].detail
    assert event.ok is False
    assert report.counts["failing"] == sum(not c.ok for c in event.checks) >= 1
    assert report.details["workers"].startswith("FAILING: ")


# -- retention ---------------------------------------------------------------------------------


async def _job_created(store: JobStore, job_id: str, age: dt.timedelta, *, finish: bool) -> None:
    envelope = JobEnvelope(
        request=CleanupExportsRequest(),
        job_id=job_id,
        owner="bob",
        created_at=utcnow() - age,
    )
    job_type = envelope.job_type
    await store.create(
        envelope, JobQueued(job_id=job_id, job_type=job_type, owner="bob"), trace_id=None
    )
    if finish:
        outcome = await store.transition(
            job_id,
            "bob",
            allowed=[JobState.QUEUED],
            to=JobState.SUCCEEDED,
            event=JobSucceeded(job_id=job_id, job_type=job_type, owner="bob"),
        )
        assert outcome.ok


async def test_retention_removes_records_and_history_older_than_the_period(
    maintenance: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
) -> None:
    keys = Keys(module_namespace)
    day = dt.timedelta(days=1)
    await _job_created(module_store, "old-done", 10 * day, finish=True)
    await _job_created(module_store, "old-active", 10 * day, finish=False)
    await _job_created(module_store, "recent-done", day, finish=True)
    await redis.zadd(keys.all_jobs, {"old-gone": (utcnow() - 9 * day).timestamp() * 1000})

    report = await run_job(
        module_lifecycle, module_store, PurgeExpiredJobsRequest(older_than_days=7)
    )

    assert await module_store.get("old-done") is None
    assert not await redis.exists(keys.job_events("old-done"))
    assert await redis.zscore(keys.owner_jobs("bob"), "old-done") is None
    assert await redis.zscore(keys.all_jobs, "old-gone") is None
    assert await module_store.get("old-active") is not None
    assert await module_store.get("recent-done") is not None
    assert await redis.zscore(keys.owner_jobs("bob"), "recent-done") is not None
    assert report.counts["records_removed"] == 1
    assert report.counts["index_entries_removed"] >= 1
    assert report.counts["kept_active"] == 1
    assert report.examples["records_removed"] == ["old-done"]
