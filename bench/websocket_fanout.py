"""WebSocket fan-out through one real gateway process: latency, loss and memory.

Progress events are produced the way workers produce them: each is a job-store transition in
Redis (which assigns its seq and owner-stream cursor) announced through the lifecycle's
outbox on the ``events`` exchange; the gateway consumes them on its narrowly bound queue and
forwards them to the WebSocket connections. Each event carries its production time (taken
before the Redis write) in ``message``, so latency is production -> frame received.

- (a) ``--users`` users (default 1,000), one connection each, each watching its own job;
  ``--events-per-job`` (20) progress events per job at ``--rate`` (1,000) events/s in total;
- (b) ``--watchers`` connections (1,000) of one user all watching one busy job at
  ``--busy-rate`` (20) events/s for ``--busy-seconds`` (20 s);
- (c) ``--idle`` (5,000) connections of distinct users, each authenticated and subscribed to
  "all my jobs" (as the web page is), held idle: the gateway's RSS.

Loss counts events a connection never received (duplicates are counted separately).
The load generator runs in this process, on the same machine as the gateway, RabbitMQ and
Redis, so the figures include its share of the CPUs.

    uv run python -m bench.websocket_fanout [--scenarios abc] [--users 1000] [--idle 5000]
    uv run python -m bench.websocket_fanout --scenarios b --transports fast,plain --rounds 3

(a) and (b) run once per ``--transports`` mode (``CONVEYOR_TRANSPORT`` of the gateway: ``fast``
writes steady-state frames straight to the transport, ``plain`` only through aiohttp), the
modes in turn, ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from collections.abc import AsyncIterator

from bench._fanout_load import SECRET, Producer, close_sockets, open_sockets, paced
from bench._fanout_measure import measure
from bench._fanout_tally import Figures, Tally
from bench._harness import bench_namespace, print_host_speed, rss_mb
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.dev_support.services import ServiceProcess, start_gateway
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle


@contextlib.asynccontextmanager
async def gateway(
    namespace: str, transport: str = "fast"
) -> AsyncIterator[tuple[ServiceProcess, str]]:
    process, url = await start_gateway(
        namespace,
        CONVEYOR_TRANSPORT=transport,
        CONVEYOR_JWT_SECRET=SECRET,
        CONVEYOR_LOG_LEVEL="WARNING",
        CONVEYOR_MAX_WEBSOCKETS="100000",  # (b) holds many connections of one user
    )
    try:
        yield process, url
    finally:
        process.terminate()
        await process.wait(30)


async def scenario_a(
    ns: str, p: Producer, users: int, per_job: int, rate: float, transport: str
) -> Figures:
    async with gateway(ns, transport) as (process, url):
        owners = [f"user-{i}" for i in range(users)]
        jobs = list(await asyncio.gather(*(p.start_job(owner) for owner in owners)))
        sockets = await open_sockets(
            url, [(job.owner, {"job_id": job.job_id, "after_seq": 2}) for job in jobs]
        )
        tally = Tally()
        items = [(job, done, per_job) for done in range(1, per_job + 1) for job in jobs]
        produce = asyncio.ensure_future(paced(items, rate, p))
        achieved, peak = await measure(process, p, sockets, produce, tally, len(items))
        name = f"(a) {users:,} users, one job each, {len(items):,} events [{transport}]"
        return Figures(name, len(items), tally, achieved, peak)


async def scenario_b(
    ns: str, p: Producer, watchers: int, rate: float, seconds: float, transport: str
) -> Figures:
    async with gateway(ns, transport) as (process, url):
        job = await p.start_job("busy-user")
        subscribe = {"job_id": job.job_id, "after_seq": 2}
        sockets = await open_sockets(url, [(job.owner, subscribe)] * watchers)
        count = int(rate * seconds)
        tally = Tally()
        produce = asyncio.ensure_future(
            paced([(job, done, count) for done in range(1, count + 1)], rate, p)
        )
        achieved, peak = await measure(process, p, sockets, produce, tally, count * watchers)
        name = f"(b) {watchers:,} connections watching one job, {count:,} events each [{transport}]"
        return Figures(name, count * watchers, tally, achieved, peak)


async def scenario_c(ns: str, idle: int) -> None:
    async with gateway(ns) as (process, url):
        await asyncio.sleep(1.0)
        baseline = rss_mb(process.process.pid)
        started = time.perf_counter()
        sockets = await open_sockets(url, [(f"idle-{i}", {"all": True}) for i in range(idle)])
        opened = time.perf_counter() - started
        await asyncio.sleep(5.0)  # held idle
        held = rss_mb(process.process.pid)
        close_sockets(sockets)
    print(f"(c) {idle:,} idle connections (each subscribed to all its jobs)")
    print(f"  opened in              {opened:.1f} s")
    print(f"  gateway RSS            {held:.0f} MB held ({baseline:.0f} MB before)")


def raise_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it


async def run(args: argparse.Namespace) -> None:
    raise_file_limit()
    async with bench_namespace() as (ns, redis):
        broker = Broker(AMQP_URL, Topology(ns), connection_name="bench-producer")
        await broker.connect()
        try:
            store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
            lifecycle = JobLifecycle(store, broker)
            producer = Producer(store, lifecycle)
            for mode in args.transports.split(",") * args.rounds:
                if "a" in args.scenarios:
                    print(f"[{mode}]")
                    a = await scenario_a(
                        ns, producer, args.users, args.events_per_job, args.rate, mode
                    )
                    a.print()
                if "b" in args.scenarios:
                    print(f"[{mode}]")
                    b = await scenario_b(
                        ns, producer, args.watchers, args.busy_rate, args.busy_seconds, mode
                    )
                    b.print()
            if "c" in args.scenarios:
                await scenario_c(ns, args.idle)
            await lifecycle.drain()
        finally:
            await broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scenarios", default="abc", help="any of a, b, c")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events-per-job", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--busy-rate", type=float, default=20.0)
    parser.add_argument("--busy-seconds", type=float, default=20.0)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--transports", default="fast,plain", help="gateway modes, in turn")
    parser.add_argument("--rounds", type=int, default=1)
    print_host_speed()  # first, on a quiet machine
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
