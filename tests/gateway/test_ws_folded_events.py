"""Folded event messages over /ws: the intake splits them, browsers see one message per event.

A worker-side lifecycle with a fold window announces the job's events (the real broker and
Redis); the gateway's lifecycle (the submit's ``job.queued``) folds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.topology import HEADER_FOLDED, owner_events_binding
from conveyor.gateway.state import Gateway
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import (
    FakeWorker,
    assert_nothing_more,
    auth,
    new_user,
    receive,
    receive_events,
    receive_until,
    submit,
)

Client = TestClient[Any, Any]


@pytest.fixture
async def folding(store: JobStore, broker: Broker) -> AsyncIterator[FakeWorker]:
    """A worker whose events wait (a second) to be folded: a final event sends them at once."""
    lifecycle = JobLifecycle(store, broker, fold_window=1.0)
    yield FakeWorker(store, lifecycle)
    await lifecycle.drain(1)


def gap_reads(gateway: Gateway) -> float:
    """History reads the gateway's sessions made because a live event came before one it
    follows (``conveyor_websocket_history_reads_total{reason="gap"}``)."""
    value = gateway.metrics.registry.get_sample_value(
        "conveyor_websocket_history_reads_total", {"reason": "gap"}
    )
    return value or 0.0


async def owner_stream(store: JobStore, owner: str) -> list[tuple[str, str, int]]:
    """The owner's recorded events as (cursor, job id, seq)."""
    entries = await store.owner_events_after(owner, "0", limit=1000)
    return [
        (e.cursor, e.job_id, msgspec.json.decode(e.body, type=dict[str, Any])["seq"])
        for e in entries
    ]


async def test_a_folded_jobs_events_reach_both_subscriptions_one_message_each(
    client: Client, gateway: Gateway, folding: FakeWorker, broker: Broker, store: JobStore
) -> None:
    user = new_user()
    folded: list[Any] = []
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(broker.topology.events, owner_events_binding(user))

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        folded.append(message.headers.get(HEADER_FOLDED))

    await queue.consume(collect, no_ack=True)
    job = await submit(client, user)
    gaps = gap_reads(gateway)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        await receive_until(ws, "subscribed")
        await ws.send_json({"type": "subscribe", "all": True})
        await receive_until(ws, "subscribed")
        await folding.start(job)
        await folding.progress(job, 50)
        await folding.succeed(job)
        # Job and "all" subscriptions: one WebSocket message per event, as without folding.
        events = await receive_events(ws, 6)
        job_events = [m for m in events if "job_id" in m]
        all_events = [m for m in events if "job_id" not in m]
        assert [m["seq"] for m in job_events] == [2, 3, 4]
        assert [m["event"]["event"] for m in job_events] == [
            "job.started",
            "job.progressed",
            "job.succeeded",
        ]
        assert [m["event"] for m in all_events] == [m["event"] for m in job_events]
        # Each with its own cursor, the owner stream's: delivered live, in the stream's order.
        stream = await owner_stream(store, user)
        assert [m["cursor"] for m in job_events] == [c for c, _, _ in stream[1:]]
        assert [m["cursor"] for m in all_events] == [c for c, _, _ in stream[1:]]
        await assert_nothing_more(ws, gateway, gateway.lifecycle, folding.lifecycle)
        assert gap_reads(gateway) == gaps  # one job's events arrive in order: no history read
    # On the exchange: the submit's queued alone, then one folded message of three events.
    async with asyncio.timeout(5):
        while len(folded) < 2:
            await asyncio.sleep(0.01)
    await channel.close()
    assert folded == [None, "3"]


async def test_interleaved_jobs_of_one_owner_are_delivered_in_the_owner_streams_order(
    client: Client, gateway: Gateway, folding: FakeWorker, store: JobStore
) -> None:
    user = new_user()
    first, second = await submit(client, user), await submit(client, user)
    gaps = gap_reads(gateway)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "all": True})
        await receive_until(ws, "subscribed")
        await folding.start(first)
        await folding.start(second)
        # The second job finishes first: its folded message overtakes the first job's events.
        await folding.succeed(second)
        await folding.succeed(first)
        events = await receive_events(ws, 4)
        stream = await owner_stream(store, user)
        recorded = [(job_id, seq) for _, job_id, seq in stream[2:]]
        assert [(m["event"]["job_id"], m["event"]["seq"]) for m in events] == recorded
        assert [m["cursor"] for m in events] == [c for c, _, _ in stream[2:]]
        await assert_nothing_more(ws, gateway, gateway.lifecycle, folding.lifecycle)
        # The overtaking message left a gap that only Redis could fill, and it was counted.
        assert gap_reads(gateway) >= gaps + 1
