"""Cancelling an export in the middle of a large xlsx: a real worker stops and leaves no file."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.contracts.events import JobProgressed, JobSucceeded
from conveyor.contracts.jobs import ExportRequest, JobEnvelope, Priority
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.support.jobs import history, wait_for_state, wait_until_handler_returned
from tests.support.services import ServiceProcess, running_worker

ROWS = 200_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export-cancel")
    generate(ROWS, root / "awards", seed=9)
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
        CONVEYOR_EXPORT_CHUNK_ROWS="2000",
        CONVEYOR_PROGRESS_INTERVAL="0.05",
        CONVEYOR_HEARTBEAT_INTERVAL="1",
    ) as service:
        yield service


async def test_a_cancelled_export_stops_within_a_second_and_leaves_no_file(
    worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    data_dir: Path,
) -> None:
    envelope = JobEnvelope(
        request=ExportRequest(format="xlsx"), owner="tester", priority=Priority.INTERACTIVE
    )
    await module_lifecycle.submit(envelope)
    running = await wait_for_state(
        module_store,
        envelope.job_id,
        lambda r: r.progress is not None and r.progress.done > 0,
    )
    assert running.state == JobState.RUNNING
    cancelled_at, since = time.monotonic(), dt.datetime.now(dt.UTC)
    outcome = await module_lifecycle.cancel(
        envelope.job_id, envelope.owner, envelope.job_type, reason="changed my mind"
    )
    assert outcome.ok
    exports = data_dir / "exports"
    # The record says cancelled at once; the worker has stopped when its file is gone.
    while any(exports.iterdir()):
        assert time.monotonic() - cancelled_at < 1.0, list(exports.iterdir())
        await asyncio.sleep(0.02)
    # Once the handler has returned, no file can come back.
    await wait_until_handler_returned(module_store, worker.instance, envelope.job_id, since=since)
    assert list(exports.iterdir()) == []
    record = await wait_for_state(module_store, envelope.job_id, {JobState.CANCELLED})
    assert record.result is None
    events = await history(module_store, envelope.job_id)
    assert not any(isinstance(e, JobSucceeded) for e in events)
    progress = [e for e in events if isinstance(e, JobProgressed)]
    assert progress[-1].done < ROWS
