"""Conveyor's run for ``bench.peers``: the same figures as the peers' runner, one JSON line.

    uv run python -m bench._peers_conveyor [--transport fast] --jobs N --latency K
    uv run python -m bench._peers_conveyor [--transport fast] --count N --latency K

Built from the other benchmarks' machinery (``bench.job_throughput``'s pre-encoded confirmed
publishes and queue-depth counter, ``bench.gateway_latency``'s WebSocket round trip), on a
real worker process (default settings but ``CONVEYOR_TRANSPORT``) in a throwaway namespace:
- throughput: N diagnostics jobs published over AMQP (confirmed, a window in flight) while
  the worker runs them; done when N ``job.succeeded`` events are in the bench's queue (so each
  job's record was written to Redis and its events published);
- latency over AMQP: K jobs one at a time, each from its publish until its ``job.succeeded``
  event reaches this process's consumer;
- latency over HTTP: K jobs one at a time through a real gateway process, from the POST until
  ``job.succeeded`` arrives on an open WebSocket (``gateway_latency.event_latency``);
- CPU per job (user + system) of every process involved in each stretch: this client, the
  worker and, over HTTP, the gateway; their peak RSS (VmHWM) summed;
- ``--count N``: no timing; N jobs over AMQP and K over HTTP, each stretch between two
  handshake lines around which ``bench.peers`` reads RabbitMQ's and Redis's counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiormq
import aiormq.abc

from bench._harness import bench_namespace, worker_process
from bench._services import start_unlimited_gateway
from bench.gateway_latency import SECRET, event_latency
from bench.job_throughput import WARM_UP, SucceededCounter, make_publishes
from bench.peer_systems import measure
from conveyor.contracts.codecs import encode
from conveyor.contracts.folded_events import job_message_decoder
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.topology import Topology, job_routing_key, kind_events_binding
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.dev_support.services import ServiceProcess
from conveyor.runtime.broker import Broker
from conveyor.runtime.tokens import mint_token
from conveyor.runtime.transport.amqp_bulk_publish import LeanPublisher, publish_frames

WINDOW = 1000
"""Publishes in flight (``bench.job_throughput``'s default)."""


class Client:
    """This process's AMQP side: confirmed publishes, the succeeded events counted and awaited."""

    def __init__(self, topology: Topology, channel: aiormq.Channel) -> None:
        self.topology = topology
        self.channel = channel
        self.publisher = LeanPublisher(channel)
        self.counter: SucceededCounter | None = None
        self.published = 0
        self._waiters: dict[str, asyncio.Future[None]] = {}

    async def bind(self) -> None:
        """A queue on the succeeded events, counted by its depth (never consumed)."""
        counted = await self.channel.queue_declare(exclusive=True)
        assert counted.queue is not None
        await self.channel.queue_bind(
            counted.queue, self.topology.events, routing_key=kind_events_binding("succeeded")
        )
        self.counter = SucceededCounter(self.channel, counted.queue)

    async def consume(self) -> None:
        """A second queue on the succeeded events, consumed to see each job's arrive.

        Bound only for the one-at-a-time round trips: during the bulk run, receiving every
        event would cost this process (and the broker) work the peers' clients do not do.
        """
        consumed = await self.channel.queue_declare(exclusive=True)
        assert consumed.queue is not None
        await self.channel.queue_bind(
            consumed.queue, self.topology.events, routing_key=kind_events_binding("succeeded")
        )
        await self.channel.basic_consume(consumed.queue, self._on_succeeded, no_ack=True)

    async def _on_succeeded(self, message: aiormq.abc.DeliveredMessage) -> None:
        waiter = self._waiters.pop(job_message_decoder.decode(message.body).job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run_bulk(self, jobs: int) -> None:
        """Publish ``jobs`` jobs (encoded first) and wait until all have succeeded."""
        assert self.counter is not None
        publishes = make_publishes(self.channel, self.topology.jobs, jobs)
        await self.publisher.publish(publishes, WINDOW)
        self.published += jobs
        await self.counter.wait_for(self.published)

    async def round_trip(self) -> None:
        """One job: publish it (confirmed) and wait for its ``job.succeeded`` event."""
        envelope = JobEnvelope(
            request=DiagnosticsRequest(numbers=[1]), owner="bench", priority=Priority.BULK
        )
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[envelope.job_id] = waiter
        key = job_routing_key("diagnostics")
        frames = publish_frames(self.channel, self.topology.jobs, key, encode(envelope))
        await self.publisher.publish([frames], 1)
        self.published += 1
        await asyncio.wait_for(waiter, 30)


@contextlib.asynccontextmanager
async def running_gateway(
    namespace: str, transport: str
) -> AsyncIterator[tuple[ServiceProcess, str]]:
    gateway, url = await start_unlimited_gateway(namespace, SECRET, CONVEYOR_TRANSPORT=transport)
    try:
        yield gateway, url
    finally:
        await gateway.stop()


def http_session(url: str) -> aiohttp.ClientSession:
    token = mint_token(SECRET, "bench")
    return aiohttp.ClientSession(base_url=url, headers={"Authorization": f"Bearer {token}"})


async def timed(
    client: Client, args: argparse.Namespace, ns: str, worker: int, rss: measure.PeakRss
) -> dict[str, Any]:
    own = os.getpid()
    result: dict[str, Any] = {"latency_ms": {}, "latency_cpu_us": {}}
    cpu = measure.CpuMeter({"client": [own], "worker": [worker]})
    cpu.start()
    started = time.perf_counter()
    await client.run_bulk(args.jobs)
    result["throughput"] = args.jobs / (time.perf_counter() - started)
    result["cpu_us"] = cpu.per_job_us(args.jobs)
    if not args.latency:
        return result
    await client.consume()
    for _ in range(20):
        await client.round_trip()
    cpu.start()
    samples = []
    for _ in range(args.latency):
        started = time.perf_counter()
        await client.round_trip()
        samples.append((time.perf_counter() - started) * 1000)
    result["latency_ms"]["AMQP -> event"] = samples
    result["latency_cpu_us"]["AMQP -> event"] = cpu.per_job_us(args.latency)
    async with running_gateway(ns, args.transport) as (gateway, url), http_session(url) as http:
        await event_latency(http, 20)
        cpu = measure.CpuMeter(
            {"client": [own], "gateway": [gateway.process.pid], "worker": [worker]}
        )
        cpu.start()
        events, replies = await event_latency(http, args.latency)
        result["latency_cpu_us"]["HTTP -> WebSocket"] = cpu.per_job_us(args.latency)
        rss.record({"client": [own], "gateway": [gateway.process.pid], "worker": [worker]})
    result["latency_ms"]["HTTP -> WebSocket"] = [s * 1000 for s in events]
    result["latency_ms"]["HTTP 202 reply"] = [s * 1000 for s in replies]
    return result


async def counted(client: Client, args: argparse.Namespace, ns: str) -> None:
    await asyncio.to_thread(measure.counted_ready, "AMQP", args.count)
    await client.run_bulk(args.count)
    await asyncio.to_thread(measure.counted_done, "AMQP")
    if not args.latency:
        return
    async with running_gateway(ns, args.transport) as (_, url), http_session(url) as http:
        await event_latency(http, 5)
        await asyncio.to_thread(measure.counted_ready, "HTTP", args.latency)
        await event_latency(http, args.latency)
        await asyncio.to_thread(measure.counted_done, "HTTP")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with bench_namespace() as (ns, redis):
        topology = Topology(ns)
        broker = Broker(AMQP_URL, topology, connection_name="bench")
        await broker.connect()  # declares the topology
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True)
            assert isinstance(channel, aiormq.Channel)
            client = Client(topology, channel)
            await client.bind()
            env = {"CONVEYOR_TRANSPORT": args.transport}
            if args.concurrency:
                env["CONVEYOR_CONCURRENCY"] = str(args.concurrency)
            if args.prefetch:
                env["CONVEYOR_PREFETCH"] = str(args.prefetch)
            if args.fold_window is not None:
                env["CONVEYOR_EVENT_FOLD_WINDOW"] = str(args.fold_window)
            async with worker_process(ns, redis, **env) as worker:
                rss = measure.PeakRss()
                await client.run_bulk(WARM_UP)
                if args.count:
                    await counted(client, args, ns)
                    result: dict[str, Any] = {}
                else:
                    result = await timed(client, args, ns, worker.process.pid, rss)
                rss.record({"client": [os.getpid()], "worker": [worker.process.pid]})
        finally:
            await connection.close()
            await broker.close()
    result.update(
        system="conveyor",
        variant=args.transport,
        rss_mb=rss.parts_mb,
        describe=f"worker conveyor.maintenance, default settings but CONVEYOR_TRANSPORT="
        f"{args.transport}"
        + (f", CONVEYOR_CONCURRENCY={args.concurrency}" if args.concurrency else "")
        + (f", CONVEYOR_PREFETCH={args.prefetch}" if args.prefetch else "")
        + (
            f", CONVEYOR_EVENT_FOLD_WINDOW={args.fold_window}"
            if args.fold_window is not None
            else ""
        )
        + f"; client: pre-encoded confirmed publishes, {WINDOW} in flight",
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--transport", choices=("fast", "plain"), default="fast")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=0, help="the worker's (0: default)")
    parser.add_argument("--prefetch", type=int, default=0, help="the worker's (0: default)")
    parser.add_argument(
        "--fold-window", type=float, default=None, help="the worker's (0: no folding)"
    )
    args = parser.parse_args()
    measure.print_result(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
