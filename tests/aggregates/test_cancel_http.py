"""Cancelling a running aggregates job through the HTTP API, against a real worker process.

The job is held running deterministically: another "instance" holds the computation's Redis
lock, so the worker waits for that instance's result. Cancelling must stop the job, leave the
other instance's lock alone (compare-and-delete) and store no result.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from redis.asyncio import Redis

from conveyor.aggregates_worker.engine import cache_digest, request_digest
from conveyor.awards.schema import DATASET_DIR, dataset_version
from conveyor.contracts.events import JobCancelled, JobSucceeded
from conveyor.contracts.jobs import AggregatesRequest, AwardFilters
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from tests.gateway.helpers import auth, running_gateway
from tests.support.jobs import FAST_WORKER_ENV, history, wait_for_state
from tests.support.services import ServiceProcess, running_worker

OTHER_INSTANCE = b"another-instance:its-token"


@pytest.fixture(scope="module")
def data_dir(awards_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("aggregates-cancel") / "data"
    shutil.copytree(awards_data_dir, copy)
    return copy


@pytest.fixture(scope="module")
async def worker(
    data_dir: Path, module_namespace: str, redis: Redis
) -> AsyncIterator[ServiceProcess]:
    env = {
        **FAST_WORKER_ENV,
        "CONVEYOR_DATA_DIR": str(data_dir),
        "CONVEYOR_WARM_ON_START": "false",
    }
    async with running_worker("conveyor.aggregates_worker", module_namespace, redis, **env) as w:
        yield w


async def test_cancelling_a_running_aggregates_job_over_http_stops_it(
    worker: ServiceProcess,
    module_store: JobStore,
    module_namespace: str,
    redis: Redis,
    data_dir: Path,
) -> None:
    keys = Keys(module_namespace)
    body = {"filters": {"areas": ["NCR"]}, "top_n": 4}
    request = AggregatesRequest(filters=AwardFilters(areas=["NCR"]), top_n=4)
    digest = cache_digest(
        "aggregates", dataset_version(data_dir / DATASET_DIR), request_digest(request)
    )
    lock = keys.result_lock(digest)
    await redis.set(lock, OTHER_INSTANCE, ex=120)
    async with running_gateway(module_namespace) as (_, client):
        submitted = await client.post("/api/v1/jobs/aggregates", json=body, headers=auth("dora"))
        assert submitted.status == 202, await submitted.text()
        job_id = (await submitted.json())["job_id"]
        running = await wait_for_state(module_store, job_id, {JobState.RUNNING}, timeout=30)
        assert running.state == JobState.RUNNING
        # Only the owner may cancel; anybody else is told the job does not exist.
        other = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth("mallory"))
        assert other.status == 404
        cancel = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth("dora"))
        assert cancel.status in (200, 202), await cancel.text()
        record = await wait_for_state(module_store, job_id, {JobState.CANCELLED}, timeout=30)
        assert record.result is None
        assert await _worker_is_idle(module_store, worker)
        events = await history(module_store, job_id)
        assert any(isinstance(e, JobCancelled) for e in events)
        assert not any(isinstance(e, JobSucceeded) for e in events)
        # The other instance's lock is untouched and nothing was cached.
        assert await redis.get(lock) == OTHER_INSTANCE
        assert not await redis.exists(keys.result_cache(digest))
        result = await client.get(f"/api/v1/jobs/{job_id}/result", headers=auth("dora"))
        assert result.status == 409
        # Once that instance is gone, the same request computes normally.
        await redis.delete(lock)
        again = await client.post("/api/v1/jobs/aggregates", json=body, headers=auth("dora"))
        again_id = (await again.json())["job_id"]
        done = await wait_for_state(
            module_store, again_id, {JobState.SUCCEEDED, JobState.FAILED}, timeout=60
        )
        assert done.state == JobState.SUCCEEDED
        answer = await client.get(f"/api/v1/jobs/{again_id}/result", headers=auth("dora"))
        assert answer.status == 200
        assert len((await answer.json())["top_contractors"]) == 4


async def _worker_is_idle(store: JobStore, worker: ServiceProcess) -> bool:
    """The worker's heartbeat lists no running job (it beats every second here)."""
    for _ in range(100):
        raw = await store.redis.get(store.keys.worker(worker.instance))
        if raw is not None and msgspec.json.decode(raw)["running_jobs"] == []:
            return True
        await asyncio.sleep(0.1)
    return False
