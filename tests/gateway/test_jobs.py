"""Reading, listing and cancelling jobs over HTTP, on the real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.codecs import control_decoder, encode
from conveyor.contracts.control import CancelJob
from conveyor.contracts.topology import command_routing_key
from conveyor.runtime.broker import Broker
from tests.gateway.helpers import FakeWorker, auth, new_user, submit

Client = TestClient[Any, Any]


async def test_a_user_gets_their_own_job(client: Client) -> None:
    user = new_user()
    job = await submit(client, user)
    response = await client.get(f"/api/v1/jobs/{job['job_id']}", headers=auth(user))
    assert response.status == 200
    assert (await response.json())["job_id"] == job["job_id"]


async def test_another_users_job_looks_like_no_job_for_get_and_cancel(client: Client) -> None:
    job = await submit(client, new_user())
    intruder = auth(new_user())
    seen = await client.get(f"/api/v1/jobs/{job['job_id']}", headers=intruder)
    missing = await client.get("/api/v1/jobs/does-not-exist", headers=intruder)
    cancelled = await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=intruder)
    assert seen.status == missing.status == cancelled.status == 404
    assert (await seen.json())["error"]["code"] == (await missing.json())["error"]["code"]
    still = await client.get(f"/api/v1/jobs/{job['job_id']}", headers=auth(job["owner"]))
    assert (await still.json())["state"] == "queued"


async def test_an_admin_sees_and_cancels_any_users_job(client: Client) -> None:
    job = await submit(client, new_user())
    admin = auth(new_user(), admin=True)
    seen = await client.get(f"/api/v1/jobs/{job['job_id']}", headers=admin)
    assert seen.status == 200
    cancelled = await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=admin)
    assert cancelled.status == 200
    assert (await cancelled.json())["state"] == "cancelled"


async def test_listing_shows_only_own_jobs_newest_first_with_filters(
    client: Client, worker: FakeWorker
) -> None:
    user = new_user()
    first = await submit(client, user, "diagnostics")
    second = await submit(client, user, "export")
    third = await submit(client, user, "diagnostics")
    await submit(client, new_user(), "diagnostics")  # someone else's
    await worker.start(third)

    async def listed(query: str) -> list[str]:
        response = await client.get(f"/api/v1/jobs?{query}", headers=auth(user))
        assert response.status == 200, await response.text()
        return [job["job_id"] for job in (await response.json())["jobs"]]

    assert await listed("") == [third["job_id"], second["job_id"], first["job_id"]]
    assert await listed("type=diagnostics") == [third["job_id"], first["job_id"]]
    assert await listed("state=queued") == [second["job_id"], first["job_id"]]
    assert await listed("type=diagnostics&state=running") == [third["job_id"]]
    both = [third["job_id"], second["job_id"], first["job_id"]]
    assert await listed("state=queued,running") == both
    assert await listed("state=running&state=queued") == both
    assert await listed("state=running&state=succeeded") == [third["job_id"]]


async def test_listing_pages_with_the_cursor_until_it_runs_out(client: Client) -> None:
    user = new_user()
    submitted = [(await submit(client, user))["job_id"] for _ in range(5)]
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        response = await client.get(f"/api/v1/jobs?limit=2{cursor}", headers=auth(user))
        page = await response.json()
        seen += [job["job_id"] for job in page["jobs"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == list(reversed(submitted))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=sleeping", "state"),
        ("state=queued,sleeping", "state"),
        ("state=queued&state=sleeping", "state"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("limit=100000", "limit"),
        ("cursor=%21%21not-ours", "cursor"),
        ("type=nope", "type"),
    ],
)
async def test_bad_listing_parameters_are_bad_requests_naming_them(
    client: Client, query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/jobs?{query}", headers=auth(new_user()))
    assert response.status == 400
    assert (await response.json())["error"]["field"] == field


async def test_only_admins_list_other_users_jobs(client: Client) -> None:
    owner = new_user()
    job = await submit(client, owner)
    refused = await client.get(f"/api/v1/jobs?owner={owner}", headers=auth(new_user()))
    assert refused.status == 403
    everyone = await client.get("/api/v1/jobs?all=true", headers=auth(new_user()))
    assert everyone.status == 403
    admin = auth(new_user(), admin=True)
    theirs = await client.get(f"/api/v1/jobs?owner={owner}", headers=admin)
    assert [j["job_id"] for j in (await theirs.json())["jobs"]] == [job["job_id"]]
    every = await client.get("/api/v1/jobs?all=true&limit=200", headers=admin)
    assert job["job_id"] in [j["job_id"] for j in (await every.json())["jobs"]]


async def test_cancelling_a_queued_job_cancels_it(client: Client) -> None:
    user = new_user()
    job = await submit(client, user)
    response = await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=auth(user))
    assert response.status == 200
    body = await response.json()
    assert body["state"] == "cancelled"
    assert body["last_seq"] == 2


@pytest.fixture
async def control_messages(broker: Broker) -> AsyncIterator[asyncio.Queue[bytes]]:
    """Every cancel_job command broadcast on the control exchange while the test runs."""
    received: asyncio.Queue[bytes] = asyncio.Queue()
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(broker.topology.control, command_routing_key(CancelJob))

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.put_nowait(message.body)

    await queue.consume(collect, no_ack=True)
    yield received
    await channel.close()


async def test_cancelling_a_running_job_tells_its_worker(
    client: Client, worker: FakeWorker, control_messages: asyncio.Queue[bytes]
) -> None:
    user = new_user()
    job = await submit(client, user)
    await worker.start(job)
    response = await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=auth(user))
    assert (await response.json())["state"] == "cancelled"
    while True:
        command = control_decoder.decode(await asyncio.wait_for(control_messages.get(), 5))
        if command == CancelJob(job_id=job["job_id"]):
            break


async def test_cancelling_a_queued_job_broadcasts_nothing(
    client: Client, broker: Broker, control_messages: asyncio.Queue[bytes]
) -> None:
    user = new_user()
    job = await submit(client, user)
    await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=auth(user))
    # A broadcast is confirmed before the cancel answers: it would come before this marker.
    marker = CancelJob(job_id=f"marker-{uuid.uuid4().hex}")
    await broker.publish(
        broker.topology.control, command_routing_key(CancelJob), encode(marker), persistent=False
    )
    while (
        command := control_decoder.decode(await asyncio.wait_for(control_messages.get(), 5))
    ) != marker:
        assert command.job_id != job["job_id"]


async def test_cancelling_a_finished_job_is_a_conflict_naming_its_state(
    client: Client, worker: FakeWorker
) -> None:
    user = new_user()
    job = await submit(client, user)
    await worker.start(job)
    await worker.succeed(job)
    response = await client.post(f"/api/v1/jobs/{job['job_id']}/cancel", headers=auth(user))
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "conflict"
    assert "succeeded" in error["message"]
