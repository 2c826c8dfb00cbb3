"""``conveyor jobs download`` and ``jobs result`` against a real gateway, export worker and
aggregates worker sharing a small generated dataset."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR
from tests.cli._ops import SECRET, Stack, api_get, cli
from tests.support.jobs import FAST_WORKER_ENV
from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace
from tests.support.services import running_worker, start_gateway

AWARDS = 1_500


@pytest.fixture(scope="module")
async def files(redis: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("cli-results")
    await asyncio.to_thread(generate, AWARDS, data_dir / DATASET_DIR, seed=7, chunk_rows=AWARDS)
    namespace = new_namespace()
    env = {**FAST_WORKER_ENV, "CONVEYOR_DATA_DIR": str(data_dir)}
    gateway, url = await start_gateway(
        namespace, CONVEYOR_JWT_SECRET=SECRET, CONVEYOR_DATA_DIR=str(data_dir)
    )
    try:
        async with (
            running_worker("conveyor.export_worker", namespace, redis, **env) as exporter,
            running_worker(
                "conveyor.aggregates_worker", namespace, redis, **env, CONVEYOR_WARM_ON_START="0"
            ),
        ):
            yield Stack(namespace, url, exporter)
    finally:
        await gateway.stop()
        await delete_redis_keys(namespace)
        await delete_rabbit_entities(namespace)


async def _finished(files: Stack, env: dict[str, str], job_type: str, *sets: str) -> str:
    args = [arg for field in sets for arg in ("--set", field)]
    submitted = await cli("jobs", "submit", job_type, *args, "--watch", env=env)
    assert submitted.code == 0, submitted.err + submitted.out
    return submitted.out.splitlines()[0]


async def test_download_streams_the_export_to_a_directory_a_file_or_stdout(
    files: Stack, tmp_path: Path
) -> None:
    env = files.env(f"exporter-{uuid.uuid4().hex[:6]}")
    job_id = await _finished(files, env, "export", "format=csv")
    record = await api_get(files, f"/api/v1/jobs/{job_id}")
    name, size = record["result"]["filename"], record["result"]["size_bytes"]

    saved = await cli("jobs", "download", job_id, "-o", str(tmp_path), env=env)
    assert saved.code == 0, saved.err
    path = tmp_path / name
    assert saved.out.startswith(f"{path} (")
    assert path.stat().st_size == size
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == AWARDS + 1  # the header, then every award
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.part")))

    refused, forced, piped = await asyncio.gather(
        cli("jobs", "download", job_id, "-o", str(path), env=env),
        cli("jobs", "download", job_id, "-o", str(tmp_path / "copy.csv"), "--force", env=env),
        cli("jobs", "download", job_id, "-o", "-", env=env),
    )
    assert refused.code == 2 and "--force" in refused.err
    assert forced.code == 0 and (tmp_path / "copy.csv").read_text(encoding="utf-8") == text
    assert piped.code == 0 and piped.out == text

    shown = await cli("jobs", "result", job_id, env=env)
    assert shown.code == 0, shown.err
    assert name in shown.out and f"{AWARDS:,}" in shown.out
    assert f"conveyor jobs download {job_id}" in shown.out


async def test_download_of_a_job_without_a_file_says_so(files: Stack, tmp_path: Path) -> None:
    env = files.env(f"nofile-{uuid.uuid4().hex[:6]}")
    job_id = await _finished(files, env, "aggregates", "top_n=3")
    missing = await cli("jobs", "download", job_id, "-o", str(tmp_path), env=env)
    assert missing.code == 1
    assert "HTTP 404" in missing.err and "no file" in missing.err
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []


async def test_result_prints_aggregates_as_tables_and_as_the_apis_json(files: Stack) -> None:
    env = files.env(f"aggregator-{uuid.uuid4().hex[:6]}")
    job_id = await _finished(files, env, "aggregates", "top_n=3")
    pretty, raw = await asyncio.gather(
        cli("jobs", "result", job_id, env=env), cli("jobs", "result", job_id, "--json", env=env)
    )
    assert pretty.code == 0, pretty.err
    assert pretty.out.startswith(f"{AWARDS:,} awards, total ")
    for title in ("By year", "Top contractors", "Top organizations", "Top areas"):
        assert title in pretty.out
    assert raw.json()["summary"]["count"] == AWARDS
    assert len(raw.json()["top_contractors"]) == 3
    assert raw.json()["top_contractors"][0]["name"] in pretty.out


async def test_result_prints_a_search_page_with_its_total(files: Stack) -> None:
    env = files.env(f"searcher-{uuid.uuid4().hex[:6]}")
    job_id = await _finished(files, env, "search", "page_size=4")
    shown = await cli("jobs", "result", job_id, "--json", env=env)
    page = shown.json()
    assert (page["total"], len(page["awards"])) == (AWARDS, 4)
    pretty = await cli("jobs", "result", job_id, env=env)
    assert pretty.out.startswith(f"{AWARDS:,} matches; page 1 of {AWARDS // 4:,}")
    for award in page["awards"]:
        assert award["award_reference_no"] in pretty.out
