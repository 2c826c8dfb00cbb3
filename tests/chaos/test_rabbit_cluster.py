"""A three-node RabbitMQ cluster with quorum queues, one node stopped under load: two gateways
and two of each worker (maintenance, export, aggregates, over a tiny awards dataset) move to the
other nodes, every accepted job (diagnostics, csv exports, aggregates) finishes once, and a
WebSocket watching all of a user's jobs (on the other gateway) sees each one's events complete.

About a minute (three nodes start and join); marked ``cluster`` so it can be deselected. The
figures it prints (``-s``) are in RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.chaos_cluster import Cluster, chaos_cluster
from tests.support.job_ledger import Ledger, audit, crash_counts, final_records, runs_in
from tests.support.jobs import MAINTENANCE
from tests.support.private_redis import private_redis
from tests.support.rabbit_cluster import RabbitCluster, rabbit_cluster
from tests.support.typed_jobs import (
    AGGREGATES_WORKER,
    EXPORT_WORKER,
    audit_typed,
    small_dataset,
    typed_ledgers,
)

pytestmark = pytest.mark.cluster

QUORUM = {"CONVEYOR_QUEUE_TYPE": "quorum"}
FINAL_EVENTS = {"job.succeeded", "job.failed", "job.cancelled"}


@pytest.fixture(scope="module")
async def nodes() -> AsyncIterator[RabbitCluster]:
    async with rabbit_cluster() as cluster:
        yield cluster


@pytest.fixture
async def cluster(module_namespace: str, nodes: RabbitCluster) -> AsyncIterator[Cluster]:
    async with (
        private_redis() as redis_server,
        chaos_cluster(module_namespace, nodes, redis_server) as cluster,
    ):
        yield cluster


class EventWatch:
    """One WebSocket subscribed to all of a user's jobs; keeps each job's events."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.closed: str | None = None

    async def run(self, url: str, token: str, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{url}/ws", headers=headers) as ws,
        ):
            await ws.send_json({"type": "subscribe", "all": True})
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = message.json()
                if frame["type"] == "subscribed":
                    ready.set()
                elif frame["type"] == "event":
                    event = frame["event"]
                    self.events[event["job_id"]].append(event)
            self.closed = f"closed: {ws.close_code}"

    def incomplete(self, job_ids: list[str]) -> dict[str, list[int]]:
        """Jobs whose events are not 1..n without gaps or repeats, ending final."""
        bad = {}
        for job_id in job_ids:
            events = self.events.get(job_id, [])
            seqs = [e["seq"] for e in events]
            if (
                seqs != list(range(1, len(seqs) + 1))
                or not events
                or (events[-1]["event"] not in FINAL_EVENTS)
            ):
                bad[job_id] = seqs
        return bad


async def test_stopping_a_node_under_load_loses_and_repeats_no_accepted_job(
    cluster: Cluster, nodes: RabbitCluster, tmp_path: Path
) -> None:
    env = {**QUORUM, "CONVEYOR_DATA_DIR": str(small_dataset(tmp_path))}
    for module, concurrency in ((MAINTENANCE, "8"), (EXPORT_WORKER, "2"), (AGGREGATES_WORKER, "2")):
        for _ in range(2):
            await cluster.start_worker(module, CONVEYOR_CONCURRENCY=concurrency, **env)
    first = await cluster.start_gateway(**env)
    second = await cluster.start_gateway(**env)
    # Exports and aggregates of both users, through both gateways, during the same load.
    typed = [*typed_ledgers(first.url, first.token), *typed_ledgers(second.url, second.token)]
    watched = Ledger(second.url, first.token)  # the first user's jobs, seen on the other gateway
    watch, ready = EventWatch(), asyncio.Event()
    watcher = asyncio.create_task(watch.run(watched.url, watched.token, ready))
    async with asyncio.timeout(30):
        await ready.wait()

    fields = {"concurrency": 3, "pause": 0.05, "sleep_seconds": 0.3, "steps": 3}
    loads = [
        asyncio.create_task(ledger.submit_many(150, **fields))  # type: ignore[arg-type]
        for ledger in (first, second)
    ] + [asyncio.create_task(ledger.submit_many(6, concurrency=1, pause=1.0)) for ledger in typed]
    async with asyncio.timeout(60):
        while len(first.accepted) + len(second.accepted) < 60:
            await asyncio.sleep(0.05)
    stopped_at = time.monotonic()
    # The exports and aggregates straddle the stop too (each ledger submits one a second).
    assert any(len(ledger.accepted) < 6 for ledger in typed)
    # The first URL: every process connected there, and the queues' leaders are there.
    await nodes.nodes[0].stop()
    await asyncio.gather(*loads)

    for ledger in (first, second):
        records = await final_records(cluster.store, ledger.accepted, timeout=120)
        counts = await crash_counts(cluster.store, ledger.accepted)
        verdict = audit(ledger, records, runs_in(cluster.logs()), counts=counts, killed=set())
        # A publish the other replicas committed while the stopped node's confirm was lost is
        # kept and published again (a 202), never a 503 for a job that runs.
        assert not verdict.problems(), verdict.problems()
        assert verdict.succeeded == verdict.accepted >= 150
        assert all(crashes == 0 for crashes, _ in counts.values())
    for ledger in typed:
        problems = await audit_typed(
            cluster.store, ledger, cluster.logs(), timeout=120, redis_faults=False
        )
        assert not problems, problems
        assert len(ledger.accepted) >= 6
    # Every job of the watched user, over the WebSocket, complete and in order.
    jobs = [*first.accepted, *typed[0].accepted, *typed[1].accepted]
    async with asyncio.timeout(60):
        while watch.incomplete(jobs) and watch.closed is None:
            await asyncio.sleep(0.1)
    assert watch.closed is None, watch.closed
    assert not watch.incomplete(jobs), watch.incomplete(jobs)
    watcher.cancel()
    recovery = _recovery_seconds(cluster, stopped_at)
    answers = [a for ledger in (first, second, *typed) for a in ledger.answers]
    refusals = [a.seconds for a in answers if a.status == 503]
    unconfirmed = sum(log.count("no publish confirm") for log in cluster.logs())
    print(  # the figures RELIABILITY.md records (pytest -s shows them)
        f"\ncluster node stop: accepted {sum(a.status == 202 for a in answers)} "
        f"({sum(len(ledger.accepted) for ledger in typed)} exports and aggregates), "
        f"refused {len(refusals)} (slowest {max(refusals, default=0):.2f} s), "
        f"accepted without a confirm {unconfirmed}, recovery {recovery:.2f} s"
    )


def _recovery_seconds(cluster: Cluster, stopped_at: float) -> float:
    """The longest pause in finished runs from the stop on: how long work stood still."""
    stop = time.time() - (time.monotonic() - stopped_at)
    ends = sorted(
        run.at.timestamp() for run in runs_in(cluster.logs()) if run.at.timestamp() > stop
    )
    return max((b - a for a, b in zip([stop, *ends], ends, strict=False)), default=float("nan"))
