"""The aggregates worker over real RabbitMQ and Redis: caching, single flight, invalidation,
``dataset.updated``, and the result through ``GET /api/v1/jobs/{id}/result``."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import polars as pl
import pytest
from redis.asyncio import Redis

from conveyor.awards.schema import DATASET_DIR, conform, data_file_name, dataset_version
from conveyor.contracts.award_results import AggregatesResult, SearchResult
from conveyor.contracts.codecs import encode
from conveyor.contracts.events import DatasetUpdated, JobProgressed
from conveyor.contracts.jobs import (
    AggregatesRequest,
    AwardFilters,
    CachedResult,
    ExportRequest,
    JobEnvelope,
    JobRequest,
    Priority,
    SearchRequest,
)
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobRecord, JobState
from conveyor.contracts.topology import domain_event_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.aggregates import oracle
from tests.aggregates.conftest import EDGE_ROWS
from tests.gateway.helpers import auth, running_gateway
from tests.support.jobs import FAST_WORKER_ENV, history, wait_for_state
from tests.support.services import ServiceProcess, running_worker

FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}


@pytest.fixture(scope="module")
def data_dir(awards_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test dataset this module may change."""
    copy = tmp_path_factory.mktemp("aggregates-worker") / "data"
    shutil.copytree(awards_data_dir, copy)
    return copy


@pytest.fixture(scope="module")
async def worker(
    data_dir: Path, module_namespace: str, redis: Redis
) -> AsyncIterator[ServiceProcess]:
    env = {**FAST_WORKER_ENV, "CONVEYOR_DATA_DIR": str(data_dir), "CONVEYOR_CONCURRENCY": "8"}
    async with running_worker("conveyor.aggregates_worker", module_namespace, redis, **env) as w:
        # The worker warms the unfiltered set on start; counts below start after it.
        async with asyncio.timeout(60):
            while not await computations(redis, Keys(module_namespace), "aggregates"):
                await asyncio.sleep(0.05)
        yield w


async def run(
    lifecycle: JobLifecycle, store: JobStore, request: JobRequest, owner: str = "alice"
) -> JobRecord:
    envelope = JobEnvelope(request=request, owner=owner, priority=Priority.INTERACTIVE)
    await lifecycle.submit(envelope)
    record = await wait_for_state(store, envelope.job_id, FINAL, timeout=60)
    assert record.state == JobState.SUCCEEDED, record
    return record


async def computations(redis: Redis, keys: Keys, kind: str) -> int:
    return int(await redis.hget(keys.result_computations, kind) or 0)


async def test_a_result_is_computed_once_then_served_from_the_cache(
    worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
    data_dir: Path,
) -> None:
    keys = Keys(module_namespace)
    request = AggregatesRequest(filters=AwardFilters(areas=["NCR"]), top_n=3)
    before = await computations(redis, keys, "aggregates")
    first = await run(module_lifecycle, module_store, request)
    assert isinstance(first.result, CachedResult) and not first.result.cache_hit
    progressed = [
        e for e in await history(module_store, first.job_id) if isinstance(e, JobProgressed)
    ]
    assert progressed and progressed[-1].total == progressed[-1].done
    stored = msgspec.json.decode(await redis.get(first.result.key), type=AggregatesResult)
    assert stored.summary.count == oracle.aggregates(data_dir / DATASET_DIR, request)["count"]
    # The same meaning spelled differently is the same cache entry.
    again = AggregatesRequest(filters=AwardFilters(areas=["NCR", "NCR"]), top_n=3)
    second = await run(module_lifecycle, module_store, again)
    assert isinstance(second.result, CachedResult)
    assert (second.result.key, second.result.cache_hit) == (first.result.key, True)
    assert await computations(redis, keys, "aggregates") == before + 1


async def test_identical_concurrent_requests_share_one_computation(
    worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_namespace: str,
) -> None:
    keys = Keys(module_namespace)
    before = await computations(redis, keys, "search")
    request = SearchRequest(query="supply services", page_size=5)
    records = await asyncio.gather(
        *(run(module_lifecycle, module_store, request) for _ in range(6))
    )
    assert len({r.result.key for r in records if isinstance(r.result, CachedResult)}) == 1
    assert await computations(redis, keys, "search") == before + 1


async def test_the_owner_reads_the_result_over_http_and_nobody_else(
    worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    module_namespace: str,
    data_dir: Path,
) -> None:
    request = SearchRequest(query='"parañaque"')
    record = await run(module_lifecycle, module_store, request, owner="carol")
    async with running_gateway(module_namespace) as (_, client):
        response = await client.get(f"/api/v1/jobs/{record.job_id}/result", headers=auth("carol"))
        assert response.status == 200
        result = msgspec.json.decode(await response.read(), type=SearchResult)
        total, references = oracle.search(data_dir / DATASET_DIR, request)
        assert (result.total, [a.award_reference_no for a in result.awards]) == (total, references)
        other = await client.get(f"/api/v1/jobs/{record.job_id}/result", headers=auth("mallory"))
        assert other.status == 404
        # No export worker runs here: that job stays queued, so it has no result yet.
        waiting = JobEnvelope(request=ExportRequest(), owner="carol")
        await module_lifecycle.submit(waiting)
        early = await client.get(f"/api/v1/jobs/{waiting.job_id}/result", headers=auth("carol"))
        assert early.status == 409
        assert (await early.json())["error"]["code"] == "conflict"


async def test_a_changed_dataset_invalidates_results_and_dataset_updated_warms_the_cache(
    worker: ServiceProcess,
    module_lifecycle: JobLifecycle,
    module_store: JobStore,
    redis: Redis,
    module_broker: Broker,
    module_namespace: str,
    data_dir: Path,
) -> None:
    request = AggregatesRequest(filters=AwardFilters(contractors=["Ñiño & Peña Builders"]))
    old = await run(module_lifecycle, module_store, request)
    assert isinstance(old.result, CachedResult)
    # New data lands: one more award of that contractor.
    extra = [{**EDGE_ROWS[1], "award_reference_no": "AWD-ZZ-0009", "contract_amount": 10.0}]
    conform(pl.DataFrame(extra)).write_parquet(data_dir / DATASET_DIR / data_file_name(60))
    new = await run(module_lifecycle, module_store, request)
    assert isinstance(new.result, CachedResult)
    assert not new.result.cache_hit and new.result.key != old.result.key
    counted = msgspec.json.decode(await redis.get(new.result.key), type=AggregatesResult)
    assert counted.summary.count == 3
    version = dataset_version(data_dir / DATASET_DIR)
    assert counted.dataset_version == version
    # The event drops the old version's entries and warms the unfiltered set of the new one.
    event = DatasetUpdated(version=version, source="test")
    keys = Keys(module_namespace)
    warmed = await computations(redis, keys, "aggregates")
    await module_broker.publish_event(
        domain_event_routing_key(DatasetUpdated), encode(event), headers={}
    )
    async with asyncio.timeout(30):
        # Dropped, then warmed (a job sent while the warm-up still runs would share it).
        while await redis.exists(old.result.key) or (
            await computations(redis, keys, "aggregates") == warmed
        ):
            await asyncio.sleep(0.05)
    unfiltered = AggregatesRequest()
    warm = await run(module_lifecycle, module_store, unfiltered)
    assert isinstance(warm.result, CachedResult) and warm.result.cache_hit
