"""The whole path with real processes: HTTP submit -> worker -> events over the WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.runtime.tokens import mint_token
from tests.support.services import ServiceProcess, running_worker, start_gateway

SECRET = "full-stack-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
async def stack(module_namespace: str, redis: Redis) -> AsyncIterator[str]:
    """A gateway and a maintenance worker in this module's namespace; yields the base URL."""
    gateway, url = await start_gateway(module_namespace, CONVEYOR_JWT_SECRET=SECRET)
    try:
        async with running_worker(
            "conveyor.maintenance", module_namespace, redis, CONVEYOR_PROGRESS_INTERVAL="0.05"
        ):
            yield url
    finally:
        await _stop(gateway)


async def _stop(service: ServiceProcess) -> None:
    service.terminate()
    assert await service.wait(20) == 0, service.output()


@pytest.fixture
async def http(stack: str) -> AsyncIterator[aiohttp.ClientSession]:
    token = mint_token(SECRET, "maria")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=stack, headers=headers) as session:
        yield session


async def submit(http: aiohttp.ClientSession, **fields: Any) -> str:
    async with http.post("/api/v1/jobs/diagnostics", json=fields) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["job_id"])


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive_json(), timeout=20)
    assert isinstance(message, dict)
    return message


async def events_until_final(
    ws: aiohttp.ClientWebSocketResponse, job_id: str, stop_after: int | None = None
) -> list[dict[str, Any]]:
    """This job's events from ``ws`` until its final event (or ``stop_after`` of them)."""
    events: list[dict[str, Any]] = []
    while True:
        message = await next_message(ws)
        if message["type"] != "event" or message["event"]["job_id"] != job_id:
            continue
        events.append(message["event"])
        if stop_after is not None and len(events) == stop_after:
            return events
        if message["event"]["event"] in ("job.succeeded", "job.failed", "job.cancelled"):
            return events


async def recorded_beyond(http: aiohttp.ClientSession, job_id: str, seq: int) -> None:
    """Until the job has recorded an event after ``seq`` (one a dropped client missed)."""
    async with asyncio.timeout(10):
        while True:
            async with http.get(f"/api/v1/jobs/{job_id}") as response:
                if (await response.json())["last_seq"] > seq:
                    return
            await asyncio.sleep(0.05)


async def test_a_submitted_job_runs_and_its_events_arrive_over_the_websocket_in_order(
    http: aiohttp.ClientSession,
) -> None:
    async with http.ws_connect("/ws") as ws:
        assert (await next_message(ws))["type"] == "welcome"
        await ws.send_json({"type": "subscribe", "all": True})
        assert (await next_message(ws))["type"] == "subscribed"
        job_id = await submit(http, numbers=[1, 2, 3.5], sleep_seconds=0.3, steps=3)
        events = await events_until_final(ws, job_id)
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["job.queued", "job.started"]
    assert "job.progressed" in kinds
    assert kinds[-1] == "job.succeeded"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["result"] == {"type": "diagnostics", "sum": 6.5, "attempt": 1}
    async with http.get(f"/api/v1/jobs/{job_id}") as response:
        record = await response.json()
    assert record["state"] == "succeeded"
    assert record["result"]["sum"] == 6.5
    assert record["last_seq"] == len(events)


async def test_resuming_a_job_after_a_dropped_connection_gives_each_missed_event_once(
    http: aiohttp.ClientSession,
) -> None:
    job_id = await submit(http, numbers=[4], sleep_seconds=1.5, steps=15)
    async with http.ws_connect("/ws") as ws:
        await next_message(ws)
        await ws.send_json({"type": "subscribe", "job_id": job_id})
        first = await events_until_final(ws, job_id, stop_after=4)
    # Dropped mid-job; events keep happening while we are away.
    await recorded_beyond(http, job_id, first[-1]["seq"])
    async with http.ws_connect("/ws") as ws:
        await next_message(ws)
        await ws.send_json({"type": "subscribe", "job_id": job_id, "after_seq": first[-1]["seq"]})
        rest = await events_until_final(ws, job_id)
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1)), "no gap and no duplicate across the drop"
    assert rest[-1]["event"] == "job.succeeded"


async def test_resuming_all_my_jobs_from_the_last_cursor_gives_each_missed_event_once(
    http: aiohttp.ClientSession,
) -> None:
    async with http.ws_connect("/ws") as ws:
        await next_message(ws)
        await ws.send_json({"type": "subscribe", "all": True})
        await next_message(ws)
        job_id = await submit(http, numbers=[5], sleep_seconds=1.5, steps=15)
        seen: list[dict[str, Any]] = []
        cursor = ""
        while len(seen) < 3:
            message = await next_message(ws)
            if message["type"] == "event" and message["event"]["job_id"] == job_id:
                seen.append(message["event"])
                cursor = message["cursor"]
    await recorded_beyond(http, job_id, seen[-1]["seq"])
    async with http.ws_connect("/ws") as ws:
        await next_message(ws)
        await ws.send_json({"type": "subscribe", "all": True, "after": cursor})
        rest = await events_until_final(ws, job_id)
    seqs = [e["seq"] for e in seen + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["event"] == "job.succeeded"


async def test_cancelling_over_http_stops_the_running_job(http: aiohttp.ClientSession) -> None:
    job_id = await submit(http, sleep_seconds=30, steps=300)
    async with http.ws_connect("/ws") as ws:
        await next_message(ws)
        await ws.send_json({"type": "subscribe", "job_id": job_id})
        await events_until_final(ws, job_id, stop_after=3)  # queued, started, progressed
        async with http.post(f"/api/v1/jobs/{job_id}/cancel") as response:
            assert response.status == 200, await response.text()
        events = await events_until_final(ws, job_id)
        assert events[-1]["event"] == "job.cancelled"
        # No progress after the cancellation: the handler really stopped.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive_json(), timeout=0.8)
