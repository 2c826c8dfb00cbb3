"""What ``CONVEYOR_REDIS_WAIT_REPLICAS=1`` costs: job-store writes with and without ``WAIT``.

A private Redis master and one replica (on spare ports, never the shared Redis); the job
store does what a gateway and a worker do per job: create the record at submit (waited for),
start it (waited for, never failed: a start no replica took is only not announced), record its
success (waited for). ``--concurrency`` jobs at once, as a busy worker has them; each mode
runs twice, alternated. Prints per mode the submit, start and outcome writes' p50/p99
latency and the jobs per second through the store.

    uv run python -m bench.redis_wait [--jobs 5000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import time

from redis.asyncio import Redis

from bench._chaos_nodes import Redis as RedisNode
from conveyor.contracts.events import JobQueued, JobStarted, JobSucceeded
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ReplicationShortError, ReplicaWait


async def _run(url: str, *, jobs: int, concurrency: int, wait: bool) -> dict[str, float]:
    redis = open_redis(url)
    shortfalls: list[int] = []
    store = JobStore(
        redis,
        Keys(f"bench-wait-{time.monotonic_ns()}"),
        retention_seconds=600,
        replica_wait=ReplicaWait(1, 1000, shortfalls.append) if wait else None,
    )
    submits: list[float] = []
    starts: list[float] = []
    outcomes: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        env = JobEnvelope(request=DiagnosticsRequest(numbers=[1]), owner="bench")
        common = {"job_id": env.job_id, "job_type": env.job_type, "owner": env.owner}
        async with gate:
            t0 = time.perf_counter()
            # A shortfall raises after its write happened (counted by ``on_short``): the
            # services go on (submit) or write again (outcome); here the job just goes on.
            with contextlib.suppress(ReplicationShortError):
                await store.create(env, JobQueued(**common, attempt=1), trace_id=None)
            t1 = time.perf_counter()
            await store.start(
                env,
                JobQueued(**common, attempt=1),
                JobStarted(**common, attempt=1, worker="bench"),
                worker="bench",
                max_crashes=3,
                trace_id=None,
            )
            t2 = time.perf_counter()
            with contextlib.suppress(ReplicationShortError):
                await store.transition(
                    env.job_id, env.owner, allowed=(JobState.RUNNING,), to=JobState.SUCCEEDED,
                    event=JobSucceeded(**common),
                )  # fmt: skip
            outcomes.append(time.perf_counter() - t2)
            submits.append(t1 - t0)
            starts.append(t2 - t1)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    elapsed = time.perf_counter() - started
    await redis.flushdb()
    await redis.aclose()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    return {
        "submit_p50": pct(submits, 50),
        "submit_p99": pct(submits, 99),
        "start_p50": pct(starts, 50),
        "start_p99": pct(starts, 99),
        "outcome_p50": pct(outcomes, 50),
        "outcome_p99": pct(outcomes, 99),
        "jobs_per_s": jobs / elapsed,
        "short": len(shortfalls),
    }


async def main(jobs: int, concurrency: int) -> None:
    master = RedisNode(persistent=False)
    await master.start()
    replica = RedisNode(persistent=False, replica_of=master.port)
    try:
        await replica.start()
        async with Redis(port=master.port) as admin:  # the replica's first sync is done
            while (await admin.info("replication")).get("slave0", {}).get("state") != "online":
                await asyncio.sleep(0.05)
        await _run(master.url, jobs=1000, concurrency=concurrency, wait=True)  # warm-up
        print(f"{jobs} jobs, {concurrency} at once, master and one replica on this host;")
        print("short: writes the replica had not acknowledged within 1 s (WAIT's timeout)")
        print(f"{'mode':<10} {'submit p50':>11} {'p99':>7} {'start p50':>10} {'p99':>7}"
              f" {'outcome p50':>12} {'p99':>7} {'jobs/s':>8} {'short':>6}")  # fmt: skip
        for wait in (False, True, False, True):
            r = await _run(master.url, jobs=jobs, concurrency=concurrency, wait=wait)
            print(
                f"{'WAIT 1' if wait else 'no WAIT':<10} {r['submit_p50']:>8.2f} ms"
                f" {r['submit_p99']:>7.2f} {r['start_p50']:>7.2f} ms {r['start_p99']:>7.2f}"
                f" {r['outcome_p50']:>9.2f} ms {r['outcome_p99']:>7.2f}"
                f" {r['jobs_per_s']:>8.0f} {r['short']:>6.0f}"
            )
    finally:
        await replica.stop()
        await master.stop()
        for node in (master, replica):
            shutil.rmtree(node.dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.concurrency))
