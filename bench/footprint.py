"""What one job costs the backing services: Redis memory per job record and per kept event,
RabbitMQ messages per job.

Runs diagnostics jobs through the real path (confirmed publish, a maintenance worker process,
records, events) in a throwaway namespace, then measures every key the jobs left with Redis's
``MEMORY USAGE`` (exact: ``SAMPLES 0``), which other tenants of a shared Redis do not disturb,
and counts every message on the ``events`` exchange. Two batches: jobs without progress (three
events each: queued, started, succeeded) and jobs reporting progress (more events each), so the
cost of one kept event is the difference divided by the extra events.

    uv run python -m bench.footprint [--jobs 2000]
"""

from __future__ import annotations

import argparse
import asyncio

import aio_pika

from bench._harness import bench_namespace, print_host_speed, worker_process
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore, footprint
from conveyor.runtime.lifecycle import JobLifecycle

OWNERS = {False: "footprint", True: "footprint-progress"}


async def _run_batch(
    lifecycle: JobLifecycle, store: JobStore, jobs: int, *, progress: bool, window: int = 200
) -> list[str]:
    ids: list[str] = []
    pending: set[asyncio.Task[bool]] = set()
    for i in range(jobs):
        envelope = JobEnvelope(
            request=DiagnosticsRequest(numbers=[i], sleep_seconds=0.5, steps=5)
            if progress
            else DiagnosticsRequest(numbers=[i]),
            owner=OWNERS[progress],
        )
        ids.append(envelope.job_id)
        pending.add(asyncio.create_task(lifecycle.submit(envelope)))
        if len(pending) >= window:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*pending)
    async with asyncio.timeout(600):
        while True:
            records = await asyncio.gather(*(store.get(job_id) for job_id in ids[-50:]))
            if all(r is not None and r.state.is_final for r in records):
                break
            await asyncio.sleep(0.2)
    return ids


async def run(jobs: int) -> None:
    async with bench_namespace() as (ns, redis):
        keys, topology = Keys(ns), Topology(ns)
        broker = Broker(AMQP_URL, topology, connection_name="bench-footprint")
        await broker.connect()
        store = JobStore(redis, keys, retention_seconds=3600, history_max=1000)
        lifecycle = JobLifecycle(store, broker)
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        events = await channel.declare_queue(exclusive=True)
        await events.bind(topology.events, routing_key="#")
        seen = 0

        async def count(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            seen += 1

        async def settled() -> int:
            """The event count once no event arrived for a second (the tail is in flight)."""
            while True:
                before = seen
                await asyncio.sleep(1.0)
                if seen == before:
                    return seen

        await events.consume(count, no_ack=True)
        env = {"CONVEYOR_CONCURRENCY": "64", "CONVEYOR_PROGRESS_INTERVAL": "0.05"}
        async with worker_process(ns, redis, **env):
            plain = await _run_batch(lifecycle, store, jobs, progress=False)
            await lifecycle.drain()
            plain_events = await settled()
            progress = await _run_batch(lifecycle, store, jobs, progress=True)
            await lifecycle.drain()
            progress_events = await settled() - plain_events
        without = await footprint.measure(redis, keys, OWNERS[False], plain)
        with_progress = await footprint.measure(redis, keys, OWNERS[True], progress)
        await connection.close()
        await broker.close()
    print(f"jobs                        {jobs} without progress, {jobs} with 5 steps in 0.5 s")
    for name, f in (("without progress", without), ("with progress", with_progress)):
        total = (
            f.record_bytes
            + f.history_bytes
            + f.index_bytes_per_job
            + f.events_per_job * f.owner_event_bytes
        )
        print(f"{name}:")
        print(f"  record hash               {f.record_bytes:,.0f} B per job")
        # A stream's first listpack node is allocated whole: a short history costs the same
        # whatever its length; the owner stream (long) shows what one more event costs.
        print(
            f"  job event stream          {f.history_bytes:,.0f} B ({f.events_per_job:.1f} events)"
        )
        print(f"  owner stream              {f.owner_event_bytes:,.0f} B per kept event")
        print(f"  indexes (all, owner)      {f.index_bytes_per_job:,.0f} B per job")
        print(f"  Redis per finished job    {total:,.0f} B (kept for the retention period)")
    print(f"RabbitMQ messages per job   {1 + plain_events / jobs:.2f} without progress, "
          f"{1 + progress_events / jobs:.2f} with 5 steps (the job and its events)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    print_host_speed()
    asyncio.run(run(args.jobs))


if __name__ == "__main__":
    main()
