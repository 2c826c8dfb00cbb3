"""Throughput of diagnostics jobs over AMQP with one worker process.

The load generator speaks raw aiormq (publishes encoded in advance and confirmed, see
``conveyor.runtime.transport.amqp_bulk_publish``; succeeded events counted by a queue's depth,
not received) so that
it takes as little of the machine's two cores as it can; its CPU per job is printed with
RabbitMQ's and Redis's. Two figures:
- end to end: jobs published over AMQP (confirmed, many in flight) while one worker process
  runs them; a job counts once its ``job.succeeded`` event is in the bench's queue, so its
  record was written and the event published;
- worker drain: the same worker taking a backlog that was published before it started;
- worker CPU µs per job (user + system time of the worker process over each phase): unlike
  the wall-clock rates it hardly moves when other processes load the machine. Counted after
  a warm-up of ``WARM_UP`` jobs in both phases.

Each round runs both transport modes (``CONVEYOR_TRANSPORT`` of the worker: ``fast``, then
``plain``, the order alternating per round) and prints both; ``--transports fast`` runs one.
``--queue-type quorum`` declares the topology and runs the worker with quorum queues
(``CONVEYOR_QUEUE_TYPE``; the jobs go to the bulk lane), ``both`` runs each queue type per
transport mode, the order alternating per round as well.

    uv run python -m bench.job_throughput [--jobs 10000] [--concurrency 64] [--rounds 1]
        [--transports fast,plain] [--queue-type classic|quorum|both]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TypeVar

import aiormq
import aiormq.abc
import psutil

from bench._harness import (
    bench_namespace,
    cpu_seconds,
    io_syscalls,
    print_host_speed,
    sample_peak_rss,
    server_processes,
    worker_process,
)
from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.topology import (
    QueueType,
    Topology,
    job_routing_key,
    kind_events_binding,
)
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.transport.amqp_bulk_publish import LeanPublisher, publish_frames
from conveyor.runtime.transport.amqp_failover import split_amqp_urls
from conveyor.runtime.transport.mode import MODES, TransportMode

WARM_UP = 200
QUEUE_TYPES: tuple[QueueType, ...] = ("classic", "quorum")
_T = TypeVar("_T")
"""Jobs run before CPU time is counted (the first ones import the handlers' libraries)."""


class SucceededCounter:
    """Counts ``job.succeeded`` events by the depth of a queue of the bench's own.

    The events pile up in the queue unconsumed and the counter asks RabbitMQ for its depth
    every few milliseconds: receiving each event (frames to parse, a task per message) cost
    the load generator about 60 us of CPU per job, taken from the system under test.
    """

    POLL_SECONDS = 0.005

    def __init__(self, channel: aiormq.Channel, queue: str) -> None:
        self._channel = channel
        self._queue = queue

    async def count(self) -> int:
        declared = await self._channel.queue_declare(self._queue, passive=True)
        return declared.message_count or 0

    async def wait_for(self, target: int, limit: float = 300) -> None:
        async with asyncio.timeout(limit):
            while await self.count() < target:
                await asyncio.sleep(self.POLL_SECONDS)


def make_publishes(channel: aiormq.Channel, exchange: str, jobs: int) -> list[bytes]:
    """``jobs`` diagnostics job publishes, encoded (before any clock starts)."""
    key = job_routing_key("diagnostics")
    return [
        publish_frames(channel, exchange, key, encode(JobEnvelope(
            request=DiagnosticsRequest(numbers=[i, 1]), owner="bench", priority=Priority.BULK
        )))
        for i in range(jobs)
    ]  # fmt: skip


async def run(
    jobs: int,
    concurrency: int,
    window: int,
    mode: TransportMode,
    queue_type: QueueType,
    *,
    amqp_url: str = AMQP_URL,
    servers: dict[str, list[psutil.Process]] | None = None,
) -> None:
    """One measurement. ``amqp_url`` may list a cluster's nodes (the load generator publishes
    to the first); ``servers`` names the server processes whose CPU is counted per job (default:
    the shared RabbitMQ and Redis), each entry the sum of its processes."""
    async with bench_namespace() as (ns, redis):
        topology = Topology(ns, queue_type)
        broker = Broker(amqp_url, topology, connection_name="bench")
        await broker.connect()  # declares the topology
        connection = await aiormq.connect(split_amqp_urls(amqp_url)[0])
        channel = await connection.channel(publisher_confirms=True)
        assert isinstance(channel, aiormq.Channel)
        publisher = LeanPublisher(channel)
        events = await channel.queue_declare(exclusive=True)
        assert events.queue is not None
        await channel.queue_bind(
            events.queue, topology.events, routing_key=kind_events_binding("succeeded")
        )
        counter = SucceededCounter(channel, events.queue)
        env = {
            "CONVEYOR_CONCURRENCY": str(concurrency),
            "CONVEYOR_TRANSPORT": mode,
            "CONVEYOR_QUEUE_TYPE": queue_type,
            "CONVEYOR_AMQP_URL": amqp_url,
        }
        # Where the rest of the machine's CPU goes per job (end to end).
        if servers is None:
            servers = {name: [process] for name, process in server_processes().items()}
        others = {**servers, "load generator": [psutil.Process()]}

        async with worker_process(ns, redis, **env) as worker:
            # Warm-up: the first jobs import the handlers' libraries, which is not per-job work.
            await publisher.publish(make_publishes(channel, topology.jobs, WARM_UP), window)
            await counter.wait_for(WARM_UP)
            stop = asyncio.Event()
            rss = asyncio.create_task(sample_peak_rss(worker.process.pid, stop))
            publishes = make_publishes(channel, topology.jobs, jobs)
            cpu_before = cpu_seconds(worker.process.pid)
            io_before = io_syscalls(worker.process.pid)
            others_before = {name: _cpu(processes) for name, processes in others.items()}
            started = time.perf_counter()
            await publisher.publish(publishes, window)
            published = time.perf_counter() - started
            await counter.wait_for(WARM_UP + jobs)
            end_to_end = time.perf_counter() - started
            e2e_cpu = cpu_seconds(worker.process.pid) - cpu_before
            others_cpu = {
                name: _cpu(processes) - others_before[name] for name, processes in others.items()
            }
            reads, writes = (
                (after - before) / jobs
                for after, before in zip(io_syscalls(worker.process.pid), io_before, strict=True)
            )
            stop.set()
            peak = await rss

        await publisher.publish(make_publishes(channel, topology.jobs, jobs), window)
        async with worker_process(ns, redis, **env) as worker:
            started = time.perf_counter()
            # CPU counted after the first WARM_UP jobs of the backlog, for the same reason.
            await counter.wait_for(2 * WARM_UP + jobs)
            cpu_before = cpu_seconds(worker.process.pid)
            await counter.wait_for(WARM_UP + 2 * jobs)
            drain = time.perf_counter() - started
            drain_cpu = (cpu_seconds(worker.process.pid) - cpu_before) / (jobs - WARM_UP)
        await connection.close()
        await broker.close()
    print(f"transport {mode}, {queue_type} queues")
    print(f"jobs                      {jobs} (worker concurrency {concurrency})")
    print(f"end to end                {jobs / end_to_end:,.0f} jobs/s ({end_to_end:.2f} s)")
    print(f"  publishing alongside    {jobs / published:,.0f} jobs/s confirmed")
    print(f"worker drain of backlog   {jobs / drain:,.0f} jobs/s ({drain:.2f} s)")
    print(f"worker CPU µs per job     {e2e_cpu / jobs * 1e6:,.0f} end to end, "
          f"{drain_cpu * 1e6:,.0f} drain (user+system; robust to load)")  # fmt: skip
    shares = ", ".join(f"{name} {cpu / jobs * 1e6:,.0f}" for name, cpu in others_cpu.items())
    print(f"other CPU µs per job      {shares} (end to end)")
    print(f"worker system calls/job   {reads:.2f} reads, {writes:.2f} writes (end to end)")
    print(f"worker peak RSS           {peak:.0f} MB")


def _cpu(processes: list[psutil.Process]) -> float:
    return sum(cpu_seconds(process.pid) for process in processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help=f"more than {WARM_UP}")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=int, default=1000, help="publishes in flight")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every combination")
    parser.add_argument("--transports", default=",".join(MODES), help="worker modes, in turn")
    parser.add_argument("--queue-type", choices=(*QUEUE_TYPES, "both"), default="classic")
    args = parser.parse_args()
    modes = tuple(_transport_mode(name) for name in args.transports.split(","))
    queue_types = QUEUE_TYPES if args.queue_type == "both" else (args.queue_type,)
    print_host_speed()  # first, on a quiet machine
    for n in range(args.rounds):
        for mode in _alternate(modes, n):
            for queue_type in _alternate(queue_types, n):
                asyncio.run(run(args.jobs, args.concurrency, args.window, mode, queue_type))


def _alternate(items: tuple[_T, ...], round_: int) -> tuple[_T, ...]:
    """``items`` in order in even rounds, reversed in odd ones (neither goes always first)."""
    return items if round_ % 2 == 0 else items[::-1]


def _transport_mode(name: str) -> TransportMode:
    for mode in MODES:
        if mode == name:
            return mode
    raise SystemExit(f"--transports: {name!r} is not one of {', '.join(MODES)}")


if __name__ == "__main__":
    main()
