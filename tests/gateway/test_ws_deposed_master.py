"""A Redis failover's deposed master must not hide events of the surviving history from a
WebSocket watching "all my jobs".

Until the Sentinels demote the old master (seconds after ``SENTINEL FAILOVER`` promoted its
replica) it keeps taking the writes of clients still connected to it, in an owner stream of
its own that the demotion then drops. An event announced from there carries a cursor no
reader will ever fetch, interleaved in time with the new master's; delivered, it moved the
connection's mark past an event of the new master whose announcement was still on its way,
which was then skipped as a duplicate (seen in ``tests/sentinel``: a job's ``job.queued`` or
``job.progressed`` missing from the WebSocket). With ``CONVEYOR_REDIS_WAIT_REPLICAS`` the job
store waits after such writes too, and an event no replica acknowledged is not announced.

Here the shared Redis is the surviving master and a private ``redis-server`` without a replica
the deposed one, written through a job store that waits for one replica (as every service's
does with the setting), so every ``WAIT`` there comes back short, as on a deposed master.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient

from conveyor.contracts.events import JobProgressed, JobQueued, JobStarted
from conveyor.contracts.jobs import AnyJobRequest, JobEnvelope, Priority
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.gateway.state import Gateway
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore, StartStatus
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ReplicaWait
from tests.gateway.helpers import (
    FakeWorker,
    assert_nothing_more,
    auth,
    new_user,
    receive,
    receive_until,
    submit,
    through_intake,
)
from tests.support.namespace import TRANSPORT
from tests.support.private_redis import private_redis

Client = TestClient[Any, Any]


def _envelope(job: dict[str, Any]) -> JobEnvelope:
    return JobEnvelope(
        request=msgspec.convert(job["request"], AnyJobRequest),
        job_id=job["job_id"],
        owner=job["owner"],
        priority=Priority(job["priority"]),
        created_at=dt.datetime.fromisoformat(job["created_at"]),
    )


def _base(job: dict[str, Any]) -> dict[str, str]:
    return {"job_id": job["job_id"], "job_type": job["job_type"], "owner": job["owner"]}


async def test_events_written_on_a_deposed_master_do_not_hide_the_new_masters(
    gateway: Gateway, client: Client, worker: FakeWorker, broker: Broker, keys: Keys
) -> None:
    user = new_user()
    first, second = await submit(client, user), await submit(client, user)
    async with (
        private_redis() as deposed,
        contextlib.aclosing(open_redis(deposed.url, transport=TRANSPORT)) as deposed_redis,
        client.ws_connect("/ws", headers=auth(user)) as ws,
    ):
        shortfalls: list[int] = []
        # A worker still connected to the old master: its store waits for a replica there is
        # no more (a short timeout: the test need not wait out the services' 500 ms).
        stale_store = JobStore(
            deposed_redis,
            keys,
            retention_seconds=3600,
            replica_wait=ReplicaWait(1, 20, shortfalls.append),
        )
        stale_worker = JobLifecycle(stale_store, broker)
        await receive(ws)  # welcome
        await ws.send_json({"type": "subscribe", "all": True, "after": "0"})
        history = await receive_until(ws, "subscribed")
        assert [m["event"]["job_id"] for m in history[:-1]] == [first["job_id"], second["job_id"]]

        # The new master records the first job's start; its announcement is still on its way
        # (another process's outbox) when the old master takes a write a moment later.
        started = await worker.start(first, announce=False)
        await asyncio.sleep(0.005)  # a later millisecond: the old master's cursor is higher
        queued_event = JobQueued(**_base(second), attempt=1)
        started_event = JobStarted(**_base(second), worker="stale")
        stale = await stale_store.start(
            _envelope(second),
            queued_event,
            started_event,
            worker="stale",
            max_crashes=3,
            trace_id=None,
        )
        assert stale.status is StartStatus.STARTED
        assert stale.created is not None
        assert stale.started is not None
        assert stale.started.cursor > started.cursor
        stale_worker.announce(queued_event, stale.created)
        stale_worker.announce(started_event, stale.started)
        progressed = JobProgressed(**_base(second), done=1, total=2)
        moved = await stale_store.transition(
            second["job_id"],
            user,
            allowed=[JobState.RUNNING],
            to=JobState.RUNNING,
            event=progressed,
        )
        assert moved.ok
        assert moved.event is not None
        stale_worker.announce(progressed, moved.event)
        await through_intake(gateway, stale_worker)
        # Now the new master's event arrives, and the job goes on there.
        worker.lifecycle.announce(JobStarted(**_base(first), worker="fake"), started)
        await worker.succeed(first)

        events = [await receive(ws)]
        while events[-1]["event"]["event"] != "job.succeeded":
            events.append(await receive(ws))
        await assert_nothing_more(ws, gateway, worker.lifecycle, stale_worker)
        await stale_worker.drain()

    delivered = [(m["event"]["job_id"], m["event"]["seq"], m["cursor"]) for m in events]
    kept = [
        (entry.job_id, msgspec.json.decode(entry.body)["seq"], entry.cursor)
        for entry in await worker.store.owner_events_after(user, "0")
    ]
    # Exactly what the surviving history holds after the subscription's start, in its order.
    assert delivered == kept[2:], (delivered, kept)
    assert shortfalls  # every write on the deposed master came back short
