"""Rule 1 of fault survival: a client that follows the gateway's status codes never gets a job
twice and never loses one, even when Redis restarts or is down as it submits.

The gateway and a worker run as processes on a private Redis (the shared one is never stopped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.contracts.codecs import job_event_decoder
from conveyor.contracts.events import JobSucceeded
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, new_user
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, wait_for_state
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.services import running_worker, start_gateway


@pytest.fixture
async def own_redis() -> AsyncIterator[PrivateRedis]:
    async with private_redis() as server:
        yield server


async def _submit(
    http: aiohttp.ClientSession, url: str, token: str
) -> tuple[int, dict[str, object]]:
    async with http.post(
        f"{url}/api/v1/jobs/diagnostics",
        json={"numbers": [1, 2]},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status, await response.json()


async def test_a_job_published_while_redis_is_down_is_accepted_and_runs_once(
    module_namespace: str, own_redis: PrivateRedis
) -> None:
    env = {"CONVEYOR_REDIS_URL": own_redis.url, "CONVEYOR_JWT_SECRET": SECRET}
    gateway, url = await start_gateway(module_namespace, **env)
    user = new_user()
    token = mint_token(SECRET, user)
    admin = mint_token(SECRET, new_user(), roles=("admin",))
    redis: Redis = own_redis.client()
    store = JobStore(redis, Keys(module_namespace), retention_seconds=3600, history_max=100)
    try:
        async with aiohttp.ClientSession() as http:
            status, before = await _submit(http, url, token)
            assert status == 202
            # A restart leaves the gateway's pooled connections closed by the server.
            await own_redis.restart()
            status, after_restart = await _submit(http, url, token)
            assert status == 202, after_restart
            # Redis down. A user's submit needs Redis for the per-user limits before anything
            # is published: a 503 with Retry-After, and nothing queued.
            await own_redis.kill()
            status, refused = await _submit(http, url, token)
            assert status == 503, refused
            assert refused["error"]["code"] == "store_unavailable"
            # An admin is exempt from the limits: the broker takes the job, so the answer is
            # 202 although Redis cannot record it (never a 503 a client would retry into a
            # second job); the worker records it when it starts it.
            status, while_down = await _submit(http, url, admin)
            assert status == 202, while_down
            assert while_down["state"] == "queued"
        await own_redis.start()
        async with running_worker(MAINTENANCE, module_namespace, redis, **env, **FAST_WORKER_ENV):
            # The first job's record went with the restart; its worker records it again.
            for job in (before, after_restart, while_down):
                job_id = str(job["job_id"])
                record = await wait_for_state(store, job_id, {JobState.SUCCEEDED}, timeout=30)
                assert record.attempt == 1
                events = [
                    job_event_decoder.decode(body)
                    for _, body in await store.events_after(job_id, 0)
                ]
                assert sum(isinstance(e, JobSucceeded) for e in events) == 1
            # The refused submit never ran: it would have been queued before the admin's job.
            page = await store.list_jobs(owner=user)
            ran = {job.job_id for job in page.jobs}
            assert ran == {before["job_id"], after_restart["job_id"]}
    finally:
        await gateway.stop()
        await redis.aclose()
