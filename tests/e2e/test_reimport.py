"""A re-import replaces an award as the workers serve it: a real ``conveyor data import``
process announces the new version, and search, aggregates and export jobs on real worker
processes see only the corrected award, never both copies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import msgspec
import polars as pl
import pytest
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR, dataset_version, scan_dataset
from conveyor.contracts.award_results import AggregatesResult, SearchResult
from conveyor.contracts.jobs import (
    AggregatesRequest,
    AwardColumn,
    CachedResult,
    ExportRequest,
    FileResult,
    JobEnvelope,
    JobRequest,
    Priority,
    SearchRequest,
)
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.cli._run import conveyor
from tests.support.jobs import FAST_WORKER_ENV, wait_for_state
from tests.support.namespace import base_environ
from tests.support.services import ServiceProcess, running_worker

FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
ROWS = 2_000
T = TypeVar("T")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reimport-data")
    generate(ROWS, root / DATASET_DIR, seed=11, chunk_rows=700, contractors=200)
    return root


@pytest.fixture(scope="module")
async def worker(
    data_dir: Path, module_namespace: str, redis: Redis
) -> AsyncIterator[ServiceProcess]:
    env = {**FAST_WORKER_ENV, "CONVEYOR_DATA_DIR": str(data_dir)}
    async with (
        running_worker("conveyor.aggregates_worker", module_namespace, redis, **env) as w,
        running_worker("conveyor.export_worker", module_namespace, redis, **env),
    ):
        yield w


async def _record(lifecycle: JobLifecycle, store: JobStore, request: JobRequest) -> JobRecord:
    envelope = JobEnvelope(request=request, owner="alice", priority=Priority.INTERACTIVE)
    await lifecycle.submit(envelope)
    record = await wait_for_state(store, envelope.job_id, FINAL, timeout=60)
    assert record.state == JobState.SUCCEEDED, record
    return record


async def _result(
    lifecycle: JobLifecycle, store: JobStore, redis: Redis, request: JobRequest, kind: type[T]
) -> T:
    record = await _record(lifecycle, store, request)
    assert isinstance(record.result, CachedResult)
    return msgspec.json.decode(await redis.get(record.result.key), type=kind)


async def test_a_reimported_award_replaces_the_old_one_in_search_and_aggregates(
    worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    module_namespace: str,
    redis: Redis,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    awards = data_dir / DATASET_DIR
    before = await _result(
        module_lifecycle, module_store, redis, AggregatesRequest(), AggregatesResult
    )
    assert before.summary.count == ROWS
    old = scan_dataset(awards).collect().row(123, named=True)
    correction = tmp_path / "correction.csv"
    correction.write_text(
        "Award Reference No.,Award Title,Contract Amount,Award Date\n"
        f"{old['award_reference_no']},Zanzibarite Bridge (corrected),123.00,2024-02-29\n",
        encoding="utf-8",
    )
    done = await asyncio.to_thread(
        conveyor,
        "data", "import", str(correction), "--out", str(awards),
        "--rejects", str(tmp_path / "rejects.csv"),
        env=base_environ(module_namespace),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    version = dataset_version(awards)
    assert f"announced dataset.updated (version {version})" in done.stdout

    found = await _result(
        module_lifecycle, module_store, redis, SearchRequest(query="zanzibarite"), SearchResult
    )
    assert found.dataset_version == version
    assert [(a.award_reference_no, a.contract_amount) for a in found.awards] == [
        (old["award_reference_no"], 123.0)
    ]
    after = await _result(
        module_lifecycle, module_store, redis, AggregatesRequest(), AggregatesResult
    )
    assert after.dataset_version == version
    # One award, not two: the count stands and the total lost the old amount.
    assert after.summary.count == ROWS
    assert after.summary.total == pytest.approx(
        before.summary.total - old["contract_amount"] + 123.0
    )
    columns: list[AwardColumn] = ["award_reference_no", "award_title", "contract_amount"]
    export = await _record(
        module_lifecycle, module_store, ExportRequest(format="parquet", columns=columns)
    )
    assert isinstance(export.result, FileResult)
    exported = pl.read_parquet(data_dir / export.result.path)
    assert exported.height == ROWS
    assert exported.filter(pl.col("award_reference_no") == old["award_reference_no"]).rows() == [
        (old["award_reference_no"], "Zanzibarite Bridge (corrected)", 123.0)
    ]
    on_disk = scan_dataset(awards).collect()
    assert on_disk.filter(pl.col("award_reference_no") == old["award_reference_no"]).height == 1
