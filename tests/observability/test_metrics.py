"""Prometheus metrics of running services move with the work they do.

A gateway and a maintenance worker (metrics on their own port) run jobs that succeed, retry,
dead-letter, run slowly and wait unconsumed; a WebSocket client follows them. Both services'
``/metrics`` are scraped before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.contracts.errors import ErrorCode
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET
from tests.observability.processes import stop
from tests.observability.scrape import Samples, free_port, scrape, value
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.services import running_worker, start_gateway

FINAL = {"succeeded", "failed", "cancelled"}
D = "diagnostics"


@pytest.fixture(scope="module")
async def stack(module_namespace: str, redis: Redis) -> AsyncIterator[tuple[str, str]]:
    """A gateway (2 attempts per job) and a maintenance worker; yields both metrics URLs."""
    gateway, url = await start_gateway(
        module_namespace, CONVEYOR_JWT_SECRET=SECRET, CONVEYOR_MAX_ATTEMPTS="2"
    )
    port = free_port()
    try:
        async with running_worker(
            MAINTENANCE,
            module_namespace,
            redis,
            CONVEYOR_METRICS_PORT=str(port),
            CONVEYOR_CONCURRENCY="4",
            **FAST_WORKER_ENV,
        ):
            yield url, f"http://127.0.0.1:{port}/metrics"
    finally:
        await stop(gateway)


async def _submit(http: aiohttp.ClientSession, url: str, job_type: str, body: Any) -> str:
    async with http.post(f"{url}/api/v1/jobs/{job_type}", json=body) as response:
        assert response.status == 202, await response.text()
        job_id: str = (await response.json())["job_id"]
        return job_id


async def _wait_final(http: aiohttp.ClientSession, url: str, job_ids: list[str]) -> list[str]:
    async with asyncio.timeout(30):
        while True:
            states = []
            for job_id in job_ids:
                async with http.get(f"{url}/api/v1/jobs/{job_id}") as response:
                    states.append((await response.json())["state"])
            if all(state in FINAL for state in states):
                return states
            await asyncio.sleep(0.1)


async def _wait_sample(url: str, name: str, target: float, **labels: str) -> Samples:
    async with asyncio.timeout(15):
        while True:
            samples = await scrape(url)
            if value(samples, name, **labels) == target:
                return samples
            await asyncio.sleep(0.05)


async def test_metrics_of_the_gateway_and_a_worker_move_with_their_work(
    stack: tuple[str, str],
) -> None:
    url, worker_metrics = stack
    gateway_metrics = f"{url}/metrics"
    gw0, wk0 = await scrape(gateway_metrics), await scrape(worker_metrics)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'metra')}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        ws = await http.ws_connect(f"{url}/ws")
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        await ws.send_json({"type": "subscribe", "all": True})
        assert (await ws.receive_json(timeout=5))["type"] == "subscribed"

        slow = await _submit(http, url, D, {"sleep_seconds": 3, "steps": 3})
        # In flight while it runs; back to 0 afterwards.
        await _wait_sample(worker_metrics, "conveyor_jobs_in_flight", 1, job_type=D)
        jobs = [
            slow,
            await _submit(http, url, D, {"numbers": [1, 2]}),
            await _submit(http, url, D, {"fail_attempts": 1}),  # retried once, then succeeds
            await _submit(http, url, D, {"fail_attempts": 5}),  # fails twice: dead letter
        ]
        await _submit(http, url, "export", {})  # no export worker: it waits in its queue
        states = await _wait_final(http, url, jobs)
        assert states == ["succeeded", "succeeded", "succeeded", "failed"]
        event = await ws.receive_json(timeout=5)
        assert event["type"] == "event"

        wk = await _wait_sample(worker_metrics, "conveyor_jobs_in_flight", 0, job_type=D)
        gw = await scrape(gateway_metrics)

        def gw_delta(name: str, **labels: str) -> float:
            return value(gw, name, **labels) - value(gw0, name, **labels)

        def wk_delta(name: str, **labels: str) -> float:
            return value(wk, name, **labels) - value(wk0, name, **labels)

        # Gateway: submissions, confirms, HTTP, WebSocket, and the sampled queues.
        assert gw_delta("conveyor_jobs_submitted_total", job_type=D) == 4
        assert gw_delta("conveyor_jobs_submitted_total", job_type="export") == 1
        assert gw_delta("conveyor_publish_confirm_seconds_count", exchange="jobs") == 5
        route = {"method": "POST", "route": "/api/v1/jobs/{type}", "status": "202"}
        assert gw_delta("conveyor_http_requests_total", **route) == 5
        assert value(gw, "conveyor_websocket_connections") == 1
        assert gw_delta("conveyor_websocket_events_sent_total") >= 4
        assert value(gw, "conveyor_queue_messages", queue="jobs.export") == 1
        assert value(gw, "conveyor_queue_consumers", queue="jobs.export") == 0
        assert value(gw, "conveyor_queue_consumers", queue="jobs.maintenance") == 1
        assert value(gw, "conveyor_queue_messages", queue="dead-letters") == 1

        # Worker: outcomes, retries, dead letters, durations and waits per attempt.
        assert wk_delta("conveyor_jobs_finished_total", job_type=D, outcome="succeeded") == 3
        assert wk_delta("conveyor_jobs_finished_total", job_type=D, outcome="failed") == 1
        assert wk_delta("conveyor_job_retries_total", job_type=D) == 2
        code = ErrorCode.HANDLER_ERROR.value
        assert wk_delta("conveyor_dead_letters_total", job_type=D, code=code) == 1
        assert wk_delta("conveyor_job_duration_seconds_count", job_type=D) == 6  # attempts
        assert wk_delta("conveyor_job_queue_wait_seconds_count", job_type=D) == 6
        under_a_second = wk_delta("conveyor_job_duration_seconds_bucket", job_type=D, le="1.0")
        assert under_a_second <= 5  # the slow job (3 s of sleep) is in a higher bucket
        assert wk_delta("conveyor_publish_confirm_seconds_count", exchange="delays") == 2
        assert wk_delta("conveyor_publish_confirm_seconds_count", exchange="dead-letters") == 1
        await ws.close()
    # The gateway notices the close on its own schedule.
    await _wait_sample(gateway_metrics, "conveyor_websocket_connections", 0)
