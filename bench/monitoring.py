"""Cost of the monitoring views on a loaded namespace (the runtime functions the admin API
calls, without HTTP): job stats over many records, dead-letter listing, replay, queue reads.

    uv run python -m bench.monitoring [--jobs 50000] [--dead-letters 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench._harness import bench_namespace
from conveyor.contracts.codecs import encode
from conveyor.contracts.events import JobQueued
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import HEADER_REASON, Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.monitoring.dead_letters import list_dead_letters, replay_dead_letters
from conveyor.runtime.monitoring.job_stats import job_stats
from conveyor.runtime.monitoring.queues import inspect_queues


async def _timed(label: str, coro: object) -> object:
    start = time.perf_counter()
    result = await coro  # type: ignore[misc]
    print(f"{label}: {(time.perf_counter() - start) * 1000:,.0f} ms")
    return result


async def main(jobs: int, dead: int) -> None:
    async with bench_namespace() as (ns, redis):
        keys = Keys(ns)
        store = JobStore(redis, keys, retention_seconds=3600)
        broker = Broker(AMQP_URL, Topology(ns), connection_name="bench-monitoring")
        await broker.connect()
        try:
            envelopes = [
                JobEnvelope(request=DiagnosticsRequest(numbers=[i]), owner=f"u{i % 50}")
                for i in range(jobs)
            ]
            for start in range(0, jobs, 500):
                await asyncio.gather(
                    *(
                        store.create(
                            e,
                            JobQueued(job_id=e.job_id, job_type=e.job_type, owner=e.owner),
                            trace_id=None,
                        )
                        for e in envelopes[start : start + 500]
                    )
                )
            print(f"{jobs:,} job records, {dead:,} dead letters")
            await _timed(
                f"stats over {jobs:,} jobs (1h)", job_stats(store, window="1h", now=utcnow())
            )
            for e in envelopes[:dead]:
                await broker.publish(
                    broker.topology.dead_letters,
                    "",
                    encode(e),
                    headers={HEADER_REASON: "bench"},
                    mandatory=False,
                    message_id=e.job_id,
                )
            await _timed("queues", inspect_queues(broker, store, paused=set()))
            await _timed("list 50 dead letters", list_dead_letters(broker, limit=50))
            await _timed("list 500 dead letters", list_dead_letters(broker, limit=500))
            lifecycle = JobLifecycle(store, broker)
            last = [envelopes[dead - 1].job_id]
            await _timed("replay 1 by id (the last)", replay_dead_letters(broker, lifecycle, last))
            await _timed(f"replay all {dead - 1:,}", replay_dead_letters(broker, lifecycle, None))
            await lifecycle.drain()
        finally:
            await broker.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--dead-letters", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.dead_letters))
