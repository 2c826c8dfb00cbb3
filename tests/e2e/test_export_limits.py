"""Export limits end to end: rows per export and bytes kept per owner, in a real worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.contracts.jobs import AwardFilters, DateRange, ExportRequest, FileResult
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore
from tests.gateway.helpers import auth, new_user, running_gateway
from tests.support.jobs import wait_for_state
from tests.support.services import running_worker

Client = TestClient[Any, Any]
FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
MAX_ROWS = 1000
QUOTA_BYTES = 20_000

SMALL = ExportRequest(
    format="csv",
    columns=["award_reference_no"],
    filters=AwardFilters(
        time_ranges=[DateRange(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 31))]
    ),
)
"""A month of reference numbers: well under both limits."""
WIDE = ExportRequest(
    format="csv",
    filters=AwardFilters(
        time_ranges=[DateRange(start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31))]
    ),
)
"""A year of every column: under the row limit, over the byte quota on its own."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export-limits")
    generate(4000, root / "awards", seed=7, chunk_rows=2000)
    return root


@pytest.fixture(scope="module")
async def client(module_namespace: str, redis: Redis, data_dir: Path) -> AsyncIterator[Client]:
    async with (
        running_worker(
            "conveyor.export_worker",
            module_namespace,
            redis,
            CONVEYOR_DATA_DIR=str(data_dir),
            CONVEYOR_EXPORT_MAX_ROWS=str(MAX_ROWS),
            CONVEYOR_EXPORT_QUOTA_BYTES=str(QUOTA_BYTES),
        ),
        running_gateway(module_namespace, data_dir=data_dir) as (_, test_client),
    ):
        yield test_client


async def export(client: Client, store: JobStore, user: str, request: ExportRequest) -> JobRecord:
    body = msgspec.to_builtins(request)
    response = await client.post("/api/v1/jobs/export", json=body, headers=auth(user))
    assert response.status == 202, await response.text()
    job_id = (await response.json())["job_id"]
    return await wait_for_state(store, job_id, FINAL, timeout=60)


async def test_an_export_over_the_row_limit_fails_before_writing_anything(
    client: Client, module_store: JobStore, data_dir: Path
) -> None:
    record = await export(client, module_store, new_user(), ExportRequest(format="csv"))
    assert record.state == JobState.FAILED
    assert record.error is not None
    assert record.error.code == "export_too_large"
    assert "4,000 rows" in record.error.message and "at most 1,000" in record.error.message
    exports = data_dir / "exports"
    assert not any(exports.glob(f"{record.job_id}*")), "no file, not even a temporary one"


async def test_an_export_past_the_owners_byte_quota_fails_and_its_file_is_deleted(
    client: Client, module_store: JobStore, data_dir: Path
) -> None:
    user = new_user()
    small = await export(client, module_store, user, SMALL)
    assert small.state == JobState.SUCCEEDED, small.error
    assert isinstance(small.result, FileResult)
    wide = await export(client, module_store, user, WIDE)
    assert wide.state == JobState.FAILED
    assert wide.error is not None
    assert wide.error.code == "export_quota_exceeded"
    assert f"you keep {small.result.size_bytes:,} bytes" in wide.error.message
    assert not (data_dir / "exports" / f"{wide.job_id}.csv").exists()
    # The refused export took no room: a small one still fits, and the kept one is intact.
    again = await export(client, module_store, user, SMALL)
    assert again.state == JobState.SUCCEEDED, again.error
    assert (data_dir / small.result.path).exists()
