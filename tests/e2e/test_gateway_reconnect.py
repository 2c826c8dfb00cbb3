"""The gateway losing its RabbitMQ connection: subscriptions catch up from Redis afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

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
    running_gateway,
    submit,
)
from tests.support.rabbit import close_rabbit_connection


async def wait_until(predicate: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_events_missed_while_the_broker_connection_was_down_are_delivered_after(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    worker = FakeWorker(store, lifecycle)
    async with running_gateway(namespace) as (gateway, client):
        user = new_user()
        job = await submit(client, user)
        async with client.ws_connect("/ws", headers=auth(user)) as ws:
            await receive(ws)
            await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
            await receive_until(ws, "subscribed")
            await asyncio.to_thread(close_rabbit_connection, f"gateway:{gateway.settings.instance}")
            await wait_until(lambda: not gateway.broker.is_available, 10)
            # Announced while the gateway's queue is gone: nobody receives these live.
            await worker.start(job)
            await worker.progress(job, 50)
            events = await receive_events(ws, 2, timeout=20)
            assert [e["seq"] for e in events] == [2, 3]
            await worker.succeed(job)
            assert [e["seq"] for e in await receive_events(ws, 1)] == [4]
            # The gateway announced only the submit, before its connection was closed.
            await assert_nothing_more(ws, gateway, lifecycle)
