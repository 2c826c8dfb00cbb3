"""Gateways side by side: each receives only its connected users' events; a user on two gets
them on both; the WebSocket subprotocol is versioned."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

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
    through_intake,
)


async def test_a_user_on_two_gateways_gets_events_on_both_and_a_third_receives_none(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    worker = FakeWorker(store, lifecycle)
    async with (
        running_gateway(namespace) as (one, client_one),
        running_gateway(namespace) as (two, client_two),
        running_gateway(namespace) as (idle, _),
    ):
        user = new_user()
        job = await submit(client_one, user)
        sockets = []
        for client in (client_one, client_two):
            ws = await client.ws_connect("/ws", headers=auth(user))
            await receive(ws)
            await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": 1})
            await receive_until(ws, "subscribed")
            sockets.append(ws)
        assert user in one.intake.owners and user in two.intake.owners
        assert user not in idle.intake.owners
        idle_before = idle.intake.received
        await worker.start(job)
        await worker.progress(job, 50)
        await worker.succeed(job)
        for ws, gateway in zip(sockets, (one, two), strict=True):
            assert [m["seq"] for m in await receive_events(ws, 3)] == [2, 3, 4]
            await assert_nothing_more(ws, gateway, one.lifecycle, lifecycle)
        # The third gateway's queue is not bound to this user: only the markers reached it.
        markers = await through_intake(idle, one.lifecycle, lifecycle)
        assert idle.intake.received == idle_before + markers
        for ws in sockets:
            await ws.close()


async def test_the_binding_goes_when_the_last_connection_of_its_user_does(
    namespace: str, store: JobStore, lifecycle: JobLifecycle
) -> None:
    worker = FakeWorker(store, lifecycle)
    async with running_gateway(namespace) as (gateway, client):
        user = new_user()
        job = await submit(client, user)
        first = await client.ws_connect("/ws", headers=auth(user))
        second = await client.ws_connect("/ws", headers=auth(user))
        for ws in (first, second):
            await receive(ws)
            await ws.send_json({"type": "subscribe", "all": True})
            await receive_until(ws, "subscribed")
        await first.close()
        await worker.start(job)  # still bound: the second connection watches
        assert (await receive_events(second, 1))[0]["event"]["event"] == "job.started"
        await second.close()
        for _ in range(100):
            if user not in gateway.intake.owners:
                break
            await asyncio.sleep(0.05)
        assert user not in gateway.intake.owners
        received = gateway.intake.received
        await worker.succeed(job)
        # Were the user still bound, its event would come through before the marker.
        markers = await through_intake(gateway, lifecycle)
        assert gateway.intake.received == received + markers


async def test_the_versioned_subprotocol_is_selected_and_other_versions_are_refused(
    namespace: str,
) -> None:
    async with running_gateway(namespace) as (_, client):
        user = new_user()
        async with client.ws_connect("/ws", headers=auth(user), protocols=("conveyor.v1",)) as ws:
            assert ws.protocol == "conveyor.v1"
            assert (await receive(ws))["protocol"] == 1
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws", headers=auth(user), protocols=("conveyor.v2",))
        assert refused.value.status == 400
