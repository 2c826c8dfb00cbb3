"""Exports end to end: HTTP submit -> a real export worker process -> download, owner only."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import conform, data_file_name
from conveyor.contracts.events import JobProgressed, JobSucceeded
from conveyor.contracts.jobs import (
    AwardFilters,
    DateRange,
    ExportRequest,
    FileResult,
    SortKey,
    ValueRange,
)
from conveyor.contracts.records import JobRecord, JobState
from conveyor.export_worker.xlsx import MEDIA_TYPE as XLSX
from conveyor.runtime.jobstore import JobStore
from tests.export.support import READERS, dataset_rows, expected_export
from tests.gateway.helpers import auth, new_user, running_gateway
from tests.support.jobs import history, wait_for_state
from tests.support.services import ServiceProcess, running_worker

Client = TestClient[Any, Any]
FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
SHEET_ROWS = 1500
"""A small sheet limit, so xlsx exports here continue on further sheets."""

ODD_NAMES = [
    'O\'Brien "Best" Builders',
    "Ñandú Construcción 中文 ✓",
    "x'); DROP TABLE awards; --",
    "100% .* [a-z] ${name} <b>&amp;</b>",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dataset plus one file of awards whose names look like code."""
    root = tmp_path_factory.mktemp("export-data")
    awards = root / "awards"
    generate(4000, awards, seed=5, chunk_rows=2000)
    template = pl.read_parquet(awards / data_file_name(0)).head(len(ODD_NAMES))
    odd = template.with_columns(
        awardee_name=pl.Series(ODD_NAMES),
        award_title=pl.Series([f"Supply of {n}" for n in ODD_NAMES]),
        award_reference_no=pl.Series([f"ODD-{i}" for i in range(len(ODD_NAMES))]),
    )
    conform(odd).write_parquet(awards / data_file_name(99))
    return root


@pytest.fixture(scope="module")
async def worker(
    module_namespace: str, redis: Redis, data_dir: Path
) -> AsyncIterator[ServiceProcess]:
    async with running_worker(
        "conveyor.export_worker",
        module_namespace,
        redis,
        CONVEYOR_DATA_DIR=str(data_dir),
        CONVEYOR_XLSX_MAX_ROWS_PER_SHEET=str(SHEET_ROWS),
        CONVEYOR_EXPORT_CHUNK_ROWS="700",
        CONVEYOR_PROGRESS_INTERVAL="0.05",
    ) as service:
        yield service


@pytest.fixture(scope="module")
async def client(
    module_namespace: str, data_dir: Path, worker: ServiceProcess
) -> AsyncIterator[Client]:
    async with running_gateway(module_namespace, data_dir=data_dir) as (_, test_client):
        yield test_client


async def export(client: Client, store: JobStore, user: str, request: ExportRequest) -> JobRecord:
    body = msgspec.to_builtins(request)
    response = await client.post("/api/v1/jobs/export", json=body, headers=auth(user))
    assert response.status == 202, await response.text()
    job_id = (await response.json())["job_id"]
    return await wait_for_state(store, job_id, FINAL, timeout=60)


async def download(client: Client, user: str, job_id: str, *, admin: bool = False) -> Any:
    return await client.get(f"/api/v1/jobs/{job_id}/download", headers=auth(user, admin=admin))


@pytest.mark.parametrize("format", ["xlsx", "csv", "parquet"])
async def test_an_export_downloads_to_its_owner_with_exactly_the_filtered_rows_in_order(
    client: Client, module_store: JobStore, data_dir: Path, tmp_path: Path, format: Any
) -> None:
    user = new_user()
    request = ExportRequest(
        format=format,
        filters=AwardFilters(
            time_ranges=[DateRange(start=dt.date(2013, 1, 1), end=dt.date(2022, 12, 31))],
            value_range=ValueRange(min=1_000),
        ),
        sort=[SortKey(column="contract_amount", descending=True)],
    )
    record = await export(client, module_store, user, request)
    assert record.state == JobState.SUCCEEDED, record.error
    result = record.result
    assert isinstance(result, FileResult)
    columns, expected = expected_export(data_dir / "awards", request)
    assert len(expected) > SHEET_ROWS
    assert result.rows == len(expected)
    assert result.path == f"exports/{record.job_id}.{format}"
    assert result.filename.endswith(f".{format}")
    now = dt.datetime.now(dt.UTC)
    assert now + dt.timedelta(hours=23) < result.expires_at <= now + dt.timedelta(hours=24)
    assert record.expires_at == result.expires_at, "the record says when the download expires"

    response = await download(client, user, record.job_id)
    assert response.status == 200
    body = await response.read()
    assert len(body) == result.size_bytes
    assert response.headers["Content-Type"].startswith(result.media_type.split(";")[0])
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{result.filename}" in disposition
    saved = tmp_path / result.filename
    saved.write_bytes(body)
    assert READERS[format](saved) == (columns, expected)
    if format == "xlsx":
        assert result.media_type == XLSX
        sheets = load_workbook(saved, read_only=True).sheetnames
        assert len(sheets) == -(-len(expected) // SHEET_ROWS) > 1


async def test_progress_reports_rows_written_of_the_total_with_an_eta(
    client: Client, module_store: JobStore
) -> None:
    record = await export(client, module_store, new_user(), ExportRequest(format="xlsx"))
    assert record.state == JobState.SUCCEEDED, record.error
    events = await history(module_store, record.job_id)
    progress = [e for e in events if isinstance(e, JobProgressed)]
    assert isinstance(events[-1], JobSucceeded)
    assert len(progress) >= 2
    assert all(e.total == 4000 + len(ODD_NAMES) for e in progress)
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert progress[-1].done == progress[-1].total
    assert any(e.eta_seconds is not None for e in progress)
    assert all(e.message and "rows" in e.message for e in progress)


async def test_an_empty_result_downloads_as_a_header_only_workbook(
    client: Client, module_store: JobStore, tmp_path: Path
) -> None:
    user = new_user()
    request = ExportRequest(filters=AwardFilters(contractors=["Nobody Of That Name"]))
    record = await export(client, module_store, user, request)
    assert isinstance(record.result, FileResult)
    assert record.result.rows == 0
    response = await download(client, user, record.job_id)
    assert response.status == 200
    saved = tmp_path / "empty.xlsx"
    saved.write_bytes(await response.read())
    header, rows = READERS["xlsx"](saved)
    assert rows == []
    assert len(header) == 17


async def test_nobody_but_the_owner_can_download_and_every_refusal_is_a_404(
    client: Client, module_store: JobStore, data_dir: Path
) -> None:
    owner = new_user()
    record = await export(client, module_store, owner, ExportRequest(format="csv"))
    assert record.state == JobState.SUCCEEDED
    assert (await download(client, new_user(), record.job_id)).status == 404
    assert (await download(client, new_user(), record.job_id, admin=True)).status == 404
    no_token = await client.get(f"/api/v1/jobs/{record.job_id}/download")
    assert no_token.status == 401
    assert (await download(client, owner, "no-such-job")).status == 404
    # A job that has no file (no worker here takes search jobs: it stays queued).
    response = await client.post("/api/v1/jobs/search", json={}, headers=auth(owner))
    queued = (await response.json())["job_id"]
    assert (await download(client, owner, queued)).status == 404
    # A file that is gone (expired and cleaned up, say) is not found either.
    assert isinstance(record.result, FileResult)
    (data_dir / record.result.path).unlink()
    assert (await download(client, owner, record.job_id)).status == 404


async def test_filter_values_with_quotes_unicode_and_sql_are_matched_as_data(
    client: Client, module_store: JobStore, data_dir: Path, tmp_path: Path
) -> None:
    user = new_user()
    cases = [
        (AwardFilters(contractors=ODD_NAMES), len(ODD_NAMES)),
        (AwardFilters(contractors=["x'); DROP TABLE awards; --"]), 1),
        (AwardFilters(contractors=["' OR '1'='1"]), 0),
        (AwardFilters(keywords=["' or 1=1 --"]), 0),
        (AwardFilters(keywords=[".*"]), 1),
        (AwardFilters(keywords=["ñandú construcción"]), 1),
        (AwardFilters(organizations=["%"], contractors=ODD_NAMES), 0),
    ]
    assert len(dataset_rows(data_dir / "awards")) == 4000 + len(ODD_NAMES)
    for filters, count in cases:
        request = ExportRequest(format="parquet", filters=filters)
        record = await export(client, module_store, user, request)
        assert isinstance(record.result, FileResult), record.error
        saved = tmp_path / f"{record.job_id}.parquet"
        saved.write_bytes(await (await download(client, user, record.job_id)).read())
        columns, expected = expected_export(data_dir / "awards", request)
        assert len(expected) == count, filters
        assert READERS["parquet"](saved) == (columns, expected), filters
