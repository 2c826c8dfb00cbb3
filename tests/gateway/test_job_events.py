"""``GET /api/v1/jobs/{job_id}/events``: a job's event history over plain HTTP, on the real
RabbitMQ and Redis, page by page, for its owner alone."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.gateway.helpers import FakeWorker, auth, new_user, receive_until, submit

Client = TestClient[Any, Any]


async def _finished_job(client: Client, worker: FakeWorker) -> dict[str, Any]:
    """A job with the history queued, started, progressed x3, succeeded (seq 1..6)."""
    job = await submit(client, new_user(), body={"numbers": [1, 2]})
    await worker.start(job, announce=False)
    for done in (10, 50, 90):
        await worker.progress(job, done, announce=False)
    await worker.succeed(job, announce=False)
    return job


async def _page(client: Client, job: dict[str, Any], query: str = "") -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/jobs/{job['job_id']}/events{query}", headers=auth(job["owner"])
    )
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "private, no-store"
    page: dict[str, Any] = await response.json()
    return page


async def test_the_owner_reads_the_whole_history_in_seq_order(
    client: Client, worker: FakeWorker
) -> None:
    job = await _finished_job(client, worker)
    page = await _page(client, job)
    kinds = [event["event"] for event in page["events"]]
    assert kinds == ["job.queued", "job.started", *["job.progressed"] * 3, "job.succeeded"]
    assert [event["seq"] for event in page["events"]] == [1, 2, 3, 4, 5, 6]
    assert [event["done"] for event in page["events"][2:5]] == [10, 50, 90]
    assert {event["job_id"] for event in page["events"]} == {job["job_id"]}
    assert (page["next_after_seq"], page["more"], page["last_seq"]) == (6, False, 6)


async def test_pages_follow_next_after_seq_without_gaps_or_repeats(
    client: Client, worker: FakeWorker
) -> None:
    job = await _finished_job(client, worker)
    seqs: list[int] = []
    after, more = 0, True
    while more:
        page = await _page(client, job, f"?after_seq={after}&limit=4")
        assert len(page["events"]) <= 4
        seqs += [event["seq"] for event in page["events"]]
        after, more = page["next_after_seq"], page["more"]
    assert seqs == [1, 2, 3, 4, 5, 6]
    last = await _page(client, job, "?after_seq=6")
    assert (last["events"], last["next_after_seq"], last["more"]) == ([], 6, False)


async def test_a_page_after_a_seq_holds_only_later_events(
    client: Client, worker: FakeWorker
) -> None:
    job = await _finished_job(client, worker)
    page = await _page(client, job, "?after_seq=4&limit=1")
    assert [event["seq"] for event in page["events"]] == [5]
    assert (page["next_after_seq"], page["more"]) == (5, True)


async def test_the_events_are_the_ones_a_websocket_subscription_replays(
    client: Client, worker: FakeWorker
) -> None:
    job = await _finished_job(client, worker)
    page = await _page(client, job)
    async with client.ws_connect("/ws", headers=auth(job["owner"])) as ws:
        await receive_until(ws, "welcome")
        await ws.send_json({"type": "subscribe", "job_id": job["job_id"], "after_seq": 0})
        messages = await receive_until(ws, "subscribed")
    replayed = [m["event"] for m in messages if m["type"] == "event"]
    assert page["events"] == replayed


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?after_seq=-1", "after_seq"),
        ("?after_seq=three", "after_seq"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
    ],
)
async def test_a_bad_after_seq_or_limit_is_a_400_naming_the_field(
    client: Client, query: str, field: str
) -> None:
    job = await submit(client, new_user())
    response = await client.get(
        f"/api/v1/jobs/{job['job_id']}/events{query}", headers=auth(job["owner"])
    )
    assert response.status == 400
    assert (await response.json())["error"]["field"] == field


async def test_another_users_or_an_unknown_job_is_a_404_even_for_an_admin(client: Client) -> None:
    job = await submit(client, new_user())
    statuses = [
        (await client.get(f"/api/v1/jobs/{job['job_id']}/events", headers=headers)).status
        for headers in (auth(new_user()), auth(new_user(), admin=True))
    ]
    unknown = await client.get("/api/v1/jobs/no-such-job/events", headers=auth(job["owner"]))
    assert statuses == [404, 404]
    assert unknown.status == 404
    anonymous = await client.get(f"/api/v1/jobs/{job['job_id']}/events")
    assert anonymous.status == 401


async def test_the_openapi_document_describes_the_events_route(client: Client) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/jobs/{job_id}/events"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"job_id", "after_seq", "limit"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/JobEventPage")
    assert {"events", "next_after_seq", "more", "last_seq"} <= set(
        document["components"]["schemas"]["JobEventPage"]["properties"]
    )
