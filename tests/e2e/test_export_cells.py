"""Export cells end to end: a real export worker neutralises CSV formulas by default and counts
the xlsx cells it cut, and the job record over HTTP says so."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import conform, data_file_name
from conveyor.contracts.jobs import ExportRequest, FileResult
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore
from tests.export.support import read_xlsx
from tests.gateway.helpers import auth, new_user, running_gateway
from tests.support.jobs import wait_for_state
from tests.support.services import running_worker

Client = TestClient[Any, Any]
FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
FORMULA = '=HYPERLINK("http://evil.example/","click")'
LONG = "L" * 40_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cells-data")
    awards = root / "awards"
    generate(30, awards, seed=3, chunk_rows=1000)
    files = list(awards.iterdir())
    frame = pl.read_parquet(files)
    for file in files:
        file.unlink()
    titles = [FORMULA, LONG, *frame.get_column("award_title").to_list()[2:]]
    amounts = [-1250.5, *frame.get_column("contract_amount").to_list()[1:]]
    conform(
        frame.with_columns(award_title=pl.Series(titles), contract_amount=pl.Series(amounts))
    ).write_parquet(awards / data_file_name(0))
    return root


@pytest.fixture(scope="module")
async def client(module_namespace: str, redis: Redis, data_dir: Path) -> AsyncIterator[Client]:
    async with (
        running_worker(
            "conveyor.export_worker", module_namespace, redis, CONVEYOR_DATA_DIR=str(data_dir)
        ),
        running_gateway(module_namespace, data_dir=data_dir) as (_, test_client),
    ):
        yield test_client


async def export(client: Client, store: JobStore, user: str, format: str) -> JobRecord:
    body = msgspec.to_builtins(ExportRequest(format=format))  # type: ignore[arg-type]
    response = await client.post("/api/v1/jobs/export", json=body, headers=auth(user))
    assert response.status == 202, await response.text()
    record = await wait_for_state(store, (await response.json())["job_id"], FINAL, timeout=60)
    assert record.state == JobState.SUCCEEDED, record.error
    return record


async def test_csv_formulas_are_neutralised_by_default_and_numbers_stay_numbers(
    client: Client, module_store: JobStore, tmp_path: Path
) -> None:
    user = new_user()
    record = await export(client, module_store, user, "csv")
    assert isinstance(record.result, FileResult) and record.result.truncated_cells == 0
    saved = tmp_path / "awards.csv"
    saved.write_bytes(
        await (
            await client.get(f"/api/v1/jobs/{record.job_id}/download", headers=auth(user))
        ).read()
    )
    with saved.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert rows[0]["award_title"] == "'" + FORMULA
    assert rows[0]["contract_amount"] == "-1250.5"
    assert rows[1]["award_title"] == LONG  # CSV has no cell limit


async def test_an_xlsx_export_counts_its_cut_cells_in_the_record(
    client: Client, module_store: JobStore, tmp_path: Path
) -> None:
    user = new_user()
    record = await export(client, module_store, user, "xlsx")
    response = await client.get(f"/api/v1/jobs/{record.job_id}", headers=auth(user))
    assert (await response.json())["result"]["truncated_cells"] == 1
    saved = tmp_path / "awards.xlsx"
    saved.write_bytes(
        await (
            await client.get(f"/api/v1/jobs/{record.job_id}/download", headers=auth(user))
        ).read()
    )
    header, rows = read_xlsx(saved)
    title = header.index("award_title")
    assert rows[0][title] == FORMULA  # a text cell: never a formula, so never prefixed
    assert rows[1][title] == "L" * 32_767
