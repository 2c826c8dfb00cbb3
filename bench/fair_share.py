"""Fair share: another user's small export behind one user's backlog of exports.

Each scenario runs a fresh ``conveyor.export_worker`` (concurrency 4) in its own namespace.
User A queues ``--backlog`` exports of the whole dataset; once A's first export runs, user B
submits one small export (a month of awards). Printed per scenario: B's wait (created ->
started), B's total (created -> finished), and how many of A's exports were still queued
when B's started. Scenarios: idle (B alone), backlog with fair share (the default), and, with
``--compare``, backlog without it (``CONVEYOR_OWNER_CONCURRENCY`` = concurrency and
``interactive_in_flight`` past the backlog). Jobs go through an in-process gateway over HTTP,
its rate and in-flight limits lifted so the whole backlog is accepted. Goal: B's wait behind
the backlog at most 2x its idle wait.

    uv run python -m bench.fair_share [--backlog 200] [--rows 20000] [--compare]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient

from bench._gateway import auth, running_gateway
from bench._harness import bench_namespace, worker_process
from bench._jobs import wait_for_state
from conveyor.awards.generator import generate
from conveyor.contracts.jobs import AwardFilters, DateRange, ExportRequest
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import FINAL_STATES, JobRecord, JobState
from conveyor.runtime.jobstore import JobStore

CONCURRENCY = 4
BIG = ExportRequest(format="csv")
SMALL = ExportRequest(
    format="csv",
    filters=AwardFilters(
        time_ranges=[DateRange(start=dt.date(2020, 3, 1), end=dt.date(2020, 3, 31))]
    ),
)


def _seconds(later: dt.datetime | None, earlier: dt.datetime) -> float:
    assert later is not None
    return (later - earlier).total_seconds()


async def scenario(data_dir: Path, backlog: int, fair: bool = True) -> tuple[float, float, int]:
    """B's wait and total in seconds, and A's exports still queued when B's started."""
    async with bench_namespace() as (ns, redis):
        store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
        settings = {
            "CONVEYOR_DATA_DIR": str(data_dir),
            "CONVEYOR_CONCURRENCY": str(CONCURRENCY),
        }
        # The gateway's own limits would refuse most of the backlog: lifted, to see the rest.
        lifted: dict[str, Any] = {
            "submit_rate": 10_000.0,
            "submit_burst": 10_000,
            "max_jobs_in_flight": 10_000,
        }
        if not fair:
            settings["CONVEYOR_OWNER_CONCURRENCY"] = str(CONCURRENCY)
            lifted["interactive_in_flight"] = 10_000
        async with (
            worker_process(ns, redis, "conveyor.export_worker", **settings),
            running_gateway(ns, data_dir=data_dir, **lifted) as (_, client),
        ):
            alices = await asyncio.gather(*(submit(client, "alice", BIG) for _ in range(backlog)))
            if alices:
                await wait_for_state(store, alices[0], lambda r: r.state != JobState.QUEUED, 60)
            bobs = await submit(client, "bob", SMALL)
            started = await wait_for_state(store, bobs, lambda r: r.state != JobState.QUEUED, 600)
            queued = sum(r.state == JobState.QUEUED for r in await store.get_many(alices))
            done: JobRecord = await wait_for_state(store, bobs, set(FINAL_STATES), 600)
            assert done.state == JobState.SUCCEEDED, done.error
            wait = _seconds(started.started_at, done.created_at)
            return wait, _seconds(done.finished_at, done.created_at), queued


async def submit(client: TestClient[Any, Any], user: str, request: ExportRequest) -> str:
    body = msgspec.to_builtins(request)
    response = await client.post("/api/v1/jobs/export", json=body, headers=auth(user))
    assert response.status == 202, await response.text()
    job_id: str = (await response.json())["job_id"]
    return job_id


async def run(backlog: int, rows: int, compare: bool, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-fair-share-") as tmp:
        data_dir = Path(tmp)
        generate(rows, data_dir / "awards", seed=11, chunk_rows=min(rows, 50_000))
        scenarios = [("idle", 0, True), (f"backlog {backlog}, fair share", backlog, True)]
        if compare:
            scenarios.append((f"backlog {backlog}, no fair share", backlog, False))
        print(f"dataset {rows:,} rows; export worker concurrency {CONCURRENCY}; median of {repeat}")
        print(f"{'scenario':<32}{'B wait s':>10}{'B total s':>11}{'A queued':>10}")
        for name, size, fair in scenarios:
            runs = [await scenario(data_dir, size, fair) for _ in range(repeat)]
            wait = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            queued = min(r[2] for r in runs)
            print(f"{name:<32}{wait:>10.3f}{total:>11.3f}{queued:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also run without fair share")
    args = parser.parse_args()
    asyncio.run(run(args.backlog, args.rows, args.compare, args.repeat))


if __name__ == "__main__":
    main()
