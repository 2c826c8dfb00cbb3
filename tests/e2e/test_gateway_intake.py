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
            intake = gateway.intake
            subscription = intake.subscription
            assert subscription is not None
            restored = subscription.restored
            first = await subscription.channel.get_underlay_channel()
            await first.close()  # as a channel error would; the robust channel reopens
            async with asyncio.timeout(10):
                while subscription.restored == restored:
                    await asyncio.sleep(0.05)
            assert await subscription.channel.get_underlay_channel() is not first
            received = intake.received
            await worker.start(job)
            await worker.succeed(job)
            assert [m["seq"] for m in await receive_events(ws, 2)] == [2, 3]
            # Delivered live by the new consumer (not only by a catch-up from Redis).
            assert intake.received >= received + 2
            await assert_nothing_more(ws, gateway, gateway.lifecycle, lifecycle)
