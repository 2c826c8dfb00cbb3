"""Job events over /ws end to end: transitions recorded in Redis, announced on RabbitMQ,
delivered by the gateway in seq order, exactly once, across reconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.events import JobProgressed
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import job_event_routing_key
from conveyor.gateway.state import Gateway
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import HEADER_CURSOR, HEADER_PREV_CURSOR, JobLifecycle
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

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
async def served(namespace: str) -> AsyncIterator[tuple[Gateway, Client]]:
    async with running_gateway(namespace) as pair:
        yield pair


@pytest.fixture(scope="module")
def gateway(served: tuple[Gateway, Client]) -> Gateway:
    return served[0]


@pytest.fixture(scope="module")
def client(served: tuple[Gateway, Client]) -> Client:
    return served[1]


@pytest.fixture(scope="module")
def worker(store: JobStore, lifecycle: JobLifecycle) -> FakeWorker:
    return FakeWorker(store, lifecycle)


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages if m["type"] == "event"]


async def test_a_jobs_events_arrive_in_seq_order(
    client: Client, gateway: Gateway, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        history = await receive_until(ws, "subscribed")
        assert seqs(history) == [1]
        assert history[0]["event"]["event"] == "job.queued"
        await worker.start(job)
        for done in range(10):
            await worker.progress(job, done)
        await worker.succeed(job)
        live = await receive_events(ws, 12)
        assert seqs(live) == list(range(2, 14))
        assert [m["event"]["seq"] for m in live] == list(range(2, 14))
        assert live[-1]["event"]["event"] == "job.succeeded"
        assert all(m["cursor"] for m in live)
        await assert_nothing_more(ws, gateway, gateway.lifecycle, worker.lifecycle)


async def test_subscribing_after_a_seq_gives_only_later_events(
    client: Client, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    await worker.start(job)
    await worker.progress(job, 1)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": 2})
        history = await receive_until(ws, "subscribed")
        assert seqs(history) == [3]
        assert history[-1] == {"type": "subscribed", "job_id": job["job_id"], "seq": 3}


async def test_resuming_a_job_after_a_dropped_connection_gives_the_missed_events_once(
    client: Client, gateway: Gateway, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        await receive_until(ws, "subscribed")
        await worker.start(job)
        last = (await receive_events(ws, 1))[-1]["seq"]
    assert last == 2
    # Disconnected: these are only in Redis (and on the exchange, for nobody).
    await worker.progress(job, 10)
    await worker.progress(job, 20)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": last})
        assert seqs(await receive_until(ws, "subscribed")) == [3, 4]
        await worker.succeed(job)
        assert seqs(await receive_events(ws, 1)) == [5]
        await assert_nothing_more(ws, gateway, gateway.lifecycle, worker.lifecycle)


async def test_resuming_all_jobs_from_the_last_cursor_gives_the_missed_events_once(
    client: Client, gateway: Gateway, worker: FakeWorker
) -> None:
    user = new_user()
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "all": True})
        subscribed = await receive(ws)
        assert subscribed == {"type": "subscribed", "all": True, "cursor": "0-0"}
        first = await submit(client, user)
        second = await submit(client, user)
        events = await receive_events(ws, 2)
        assert [e["event"]["job_id"] for e in events] == [first["job_id"], second["job_id"]]
        assert all("seq" not in e for e in events)
        cursor = events[-1]["cursor"]
    await worker.start(first)
    await worker.start(second)
    await worker.succeed(first)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "all": True, "after": cursor})
        replay = await receive_until(ws, "subscribed")
        missed = [(m["event"]["job_id"], m["event"]["event"]) for m in replay[:-1]]
        assert missed == [
            (first["job_id"], "job.started"),
            (second["job_id"], "job.started"),
            (first["job_id"], "job.succeeded"),
        ]
        assert replay[-1]["cursor"] == replay[-2]["cursor"]
        await worker.succeed(second)
        live = await receive_events(ws, 1)
        assert (live[0]["event"]["job_id"], live[0]["event"]["event"]) == (
            second["job_id"],
            "job.succeeded",
        )
        await assert_nothing_more(ws, gateway, gateway.lifecycle, worker.lifecycle)


async def test_all_jobs_from_cursor_zero_replays_the_whole_kept_history(
    client: Client,
) -> None:
    user = new_user()
    jobs = [await submit(client, user) for _ in range(3)]
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "all": True, "after": "0"})
        replay = await receive_until(ws, "subscribed")
        assert [m["event"]["job_id"] for m in replay[:-1]] == [j["job_id"] for j in jobs]


async def test_out_of_order_live_delivery_is_put_back_in_order(
    client: Client, gateway: Gateway, store: JobStore, broker: Broker, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    await worker.start(job)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": 2})
        assert seqs(await receive_until(ws, "subscribed")) == []
        # Record seq 3 and 4 without announcing them, then announce 4 before 3 by hand.
        appended = []
        for done in (1, 2):
            event = JobProgressed(
                job_id=job["job_id"], job_type=job["job_type"], owner=user, done=done
            )
            outcome = await store.transition(
                job["job_id"], user, allowed=[JobState.RUNNING], to=JobState.RUNNING, event=event
            )
            assert outcome.event is not None
            appended.append(outcome.event)
        key = job_event_routing_key(user, "progressed", job["job_type"])
        for item in reversed(appended):
            await broker.publish(
                broker.topology.events,
                key,
                item.body,
                headers={HEADER_CURSOR: item.cursor, HEADER_PREV_CURSOR: item.prev_cursor},
                persistent=False,
                mandatory=False,
            )
        events = await receive_events(ws, 2)
        assert seqs(events) == [3, 4]
        assert [e["event"]["done"] for e in events] == [1, 2]
        await assert_nothing_more(ws, gateway, gateway.lifecycle, worker.lifecycle)


async def test_an_event_whose_announcement_was_lost_is_recovered_from_redis(
    client: Client, gateway: Gateway, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"]})
        await ws.send_json({"type": "subscribe", "all": True, "after": "0"})
        await receive_until(ws, "subscribed")
        await receive_until(ws, "subscribed")
        await worker.start(job, announce=False)  # seq 2 never reaches the exchange
        await worker.succeed(job)
        received = await receive_events(ws, 4)
        by_job = [m["seq"] for m in received if "seq" in m]
        by_cursor = [m["event"]["event"] for m in received if "seq" not in m]
        assert by_job == [2, 3]
        assert by_cursor == ["job.started", "job.succeeded"]
        await assert_nothing_more(ws, gateway, gateway.lifecycle, worker.lifecycle)


async def test_an_overflowing_connection_is_closed_with_4429(
    namespace: str, worker: FakeWorker
) -> None:
    async with running_gateway(namespace, ws_send_queue=16) as (_, small):
        user = new_user()
        job = await submit(small, user)
        async with small.ws_connect("/ws", headers=auth(user)) as ws:
            await receive(ws)
            await ws.send_json({"type": "subscribe", "all": True})
            await receive(ws)
            # The reader keeps up with 16 queued items only if it is not flooded at once.
            for _ in range(300):
                await ws.send_json({"type": "ping"})
            close = None
            while close is None:
                message = await ws.receive(timeout=5)
                if message.type.name in ("CLOSE", "CLOSED"):
                    close = ws.close_code
            assert close == 4429
        assert job  # the job itself is unaffected
