"""Fair share end to end: with one owner's backlog queued, another owner's job starts soon."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from conveyor.contracts.jobs import Priority
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import auth, running_gateway, submit
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import ServiceProcess, running_worker

BACKLOG = 80
JOB_SECONDS = 0.5
CONCURRENCY = 4
START_BOUND = 5.0
"""Seconds B's job may wait to start when the backlog was published straight to the broker
(only the workers' cap acts); without fair share it waits behind the whole backlog,
``BACKLOG * JOB_SECONDS / CONCURRENCY`` = 10 s."""
HTTP_BACKLOG = 200
HTTP_BOUND = 1.0
"""The same through the gateway, which also queues the backlog behind B's job: B waits for
one set-aside at most, not for the backlog to be set aside."""


@pytest.fixture(scope="module")
async def worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    async with running_worker(
        MAINTENANCE,
        module_namespace,
        redis,
        CONVEYOR_CONCURRENCY=str(CONCURRENCY),
        CONVEYOR_FAIR_SHARE_DELAY="0.5",
        **FAST_WORKER_ENV,
    ) as service:
        yield service


async def test_another_owners_job_starts_within_a_bound_behind_a_backlog(
    worker: ServiceProcess, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    backlog = await asyncio.gather(
        *(
            submit_diagnostics(module_lifecycle, owner="alice", sleep_seconds=JOB_SECONDS)
            for _ in range(BACKLOG)
        )
    )
    submitted = time.monotonic()
    bobs = await submit_diagnostics(module_lifecycle, owner="bob", sleep_seconds=0.1)
    started = await wait_for_state(
        module_store, bobs.job_id, lambda r: r.state != JobState.QUEUED, timeout=START_BOUND
    )
    waited = time.monotonic() - submitted
    assert started.state in (JobState.RUNNING, JobState.SUCCEEDED)
    alices = await module_store.get_many([e.job_id for e in backlog])
    waiting = sum(r.state == JobState.QUEUED for r in alices)
    assert waiting > BACKLOG // 2, f"the backlog was mostly still queued ({waiting} of {BACKLOG})"
    # Alice never held more than her share: the worker's concurrency less one.
    running = sum(r.state == JobState.RUNNING for r in alices)
    assert running <= CONCURRENCY - 1
    assert waited < START_BOUND
    # Set aside, not lost: every job of the backlog still runs, once.
    for envelope in backlog:
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=60)
        assert record.state == JobState.SUCCEEDED and record.attempt == 1


async def test_over_http_another_users_job_starts_about_as_soon_as_on_an_idle_system(
    worker: ServiceProcess, module_namespace: str, module_store: JobStore
) -> None:
    lifted = {"submit_rate": 10_000.0, "submit_burst": 10_000, "max_jobs_in_flight": 10_000}
    async with running_gateway(module_namespace, **lifted) as (_, client):
        backlog = await asyncio.gather(
            *(
                submit(client, "dave", "diagnostics", {"sleep_seconds": JOB_SECONDS})
                for _ in range(HTTP_BACKLOG)
            )
        )
        await wait_for_state(
            module_store, backlog[0]["job_id"], lambda r: r.state != JobState.QUEUED
        )
        submitted = time.monotonic()
        erins = await submit(client, "erin", "diagnostics", {"sleep_seconds": 0.1})
        await wait_for_state(
            module_store, erins["job_id"], lambda r: r.state != JobState.QUEUED, timeout=HTTP_BOUND
        )
        waited = time.monotonic() - submitted
        records = await module_store.get_many([job["job_id"] for job in backlog])
        assert sum(r.state == JobState.QUEUED for r in records) > HTTP_BACKLOG // 2
        assert waited < HTTP_BOUND
        for job in backlog:  # cancelled, so the next test finds the worker idle
            await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=auth("dave"))
        for job in backlog:
            await wait_for_state(module_store, job["job_id"], FINAL_STATES, timeout=30)


async def test_bulk_jobs_of_one_owner_use_every_slot(
    worker: ServiceProcess, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    jobs = await asyncio.gather(
        *(
            submit_diagnostics(
                module_lifecycle, owner="carol", priority=Priority.BULK, sleep_seconds=1.0
            )
            for _ in range(CONCURRENCY)
        )
    )

    async def all_running() -> bool:
        records = await module_store.get_many([e.job_id for e in jobs])
        return all(r.state != JobState.QUEUED for r in records)

    async with asyncio.timeout(5):
        while not await all_running():
            await asyncio.sleep(0.05)
    records = await module_store.get_many([e.job_id for e in jobs])
    assert sum(r.state == JobState.RUNNING for r in records) == CONCURRENCY
