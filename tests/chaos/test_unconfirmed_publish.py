"""Rule 1 of fault survival when RabbitMQ takes a job but its confirm is lost: the client gets
a 202 (never a 503 it would retry into a second job), and the job runs once.

The gateway publishes through a proxy that drops what the broker sends back
(``tests.support.amqp_proxy``); the worker, started later, consumes from the broker directly
and finds both the first publish and the gateway's copy in its queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, new_user
from tests.support.amqp_proxy import AmqpProxy, amqp_proxy
from tests.support.job_ledger import runs_in
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, wait_for_state
from tests.support.services import running_worker, start_gateway


@pytest.fixture
async def proxy() -> AsyncIterator[AmqpProxy]:
    async with amqp_proxy() as p:
        yield p


async def _submit(
    http: aiohttp.ClientSession, url: str, token: str, key: str
) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
    async with http.post(
        f"{url}/api/v1/jobs/diagnostics",
        json={"numbers": [977]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    ) as response:
        return response.status, await response.json(), response.headers


async def test_a_submit_whose_confirm_is_lost_is_accepted_and_runs_once(
    module_namespace: str, redis: Redis, proxy: AmqpProxy
) -> None:
    env = {"CONVEYOR_JWT_SECRET": SECRET, "CONVEYOR_LOG_FORMAT": "json", **FAST_WORKER_ENV}
    gateway, url = await start_gateway(
        module_namespace,
        CONVEYOR_AMQP_URL=proxy.url(),
        CONVEYOR_PUBLISH_TIMEOUT="1",
        **env,
    )
    keys = Keys(module_namespace)
    store = JobStore(redis, keys, retention_seconds=3600, history_max=100)
    token = mint_token(SECRET, new_user())
    try:
        async with aiohttp.ClientSession() as http:
            proxy.stall()
            status, job, _ = await _submit(http, url, token, "lost-confirm")
            assert status == 202, job
            assert job["state"] == "queued"
            assert await redis.zscore(keys.unconfirmed_jobs, str(job["job_id"])) is not None
            proxy.cut()
            proxy.heal()
            # A client that retries anyway, with its key, gets the same job back.
            status, again, headers = await _submit(http, url, token, "lost-confirm")
            assert status == 202, again
            assert again["job_id"] == job["job_id"]
            assert headers.get("Idempotent-Replayed") == "true"
        async with asyncio.timeout(30):  # the gateway publishes its copy once reconnected
            while await redis.zcard(keys.unconfirmed_jobs):
                await asyncio.sleep(0.1)
        async with running_worker(MAINTENANCE, module_namespace, redis, **env) as worker:
            job_id = str(job["job_id"])
            record = await wait_for_state(store, job_id, {JobState.SUCCEEDED}, timeout=30)
            assert record.attempt == 1
        runs = [run for run in runs_in([worker.output()]) if run.job_id == job_id]
        assert len(runs) == 1, runs
        assert "job redelivered" in worker.output() or "skipping succeeded job" in worker.output()
    finally:
        await gateway.stop()
