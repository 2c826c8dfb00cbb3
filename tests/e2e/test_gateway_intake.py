"""The gateway's event intake keeps consuming when its AMQP channel is closed and reopened."""

from __future__ import annotations

import asyncio

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


async def test_live_events_flow_again_after_the_intake_channel_reopens(
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
            consumer = gateway.intake._consumer
            assert consumer is not None
            first = consumer.consuming_on
            assert first is not None
            await first.close()  # as a channel error would; the robust channel reopens
            for _ in range(200):
                if consumer.consuming_on not in (None, first):
                    break
                await asyncio.sleep(0.05)
            assert consumer.consuming_on is not first
            intake = gateway.intake
            received = intake.received
            await worker.start(job)
            await worker.succeed(job)
            assert [m["seq"] for m in await receive_events(ws, 2)] == [2, 3]
            # Delivered live by the new consumer (not only by a catch-up from Redis).
            assert intake.received >= received + 2
            await assert_nothing_more(ws, gateway, gateway.lifecycle, lifecycle)
