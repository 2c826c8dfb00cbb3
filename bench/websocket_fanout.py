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
import gc
import resource
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import msgspec
import psutil

from bench._harness import bench_namespace, percentiles, print_host_speed, rss_mb, sample_peak_rss
from bench._light_websocket import LightSocket, connect
from bench._namespace import AMQP_URL
from bench._services import ServiceProcess, start_gateway
from conveyor.contracts.events import JobProgressed, JobQueued, JobStarted
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.tokens import mint_token

SECRET = "bench-secret-0123456789abcdef0123456789"
CONNECT_CONCURRENCY = 50
"""Connections opened at once (the gateway's accept backlog and auth are the limit)."""


class _Progress(msgspec.Struct):
    job_id: str
    seq: int
    message: str | None = None


class _Frame(msgspec.Struct):
    type: str
    event: _Progress | None = None


_frame = msgspec.json.Decoder(_Frame)


@dataclass
class Tally:
    """What the connections received: latencies and (connection, job, seq) counts."""

    latencies: list[float] = field(default_factory=list)
    seen: Counter[tuple[int, str, int]] = field(default_factory=Counter)
    first: dict[tuple[str, int], float] = field(default_factory=dict)
    """Each event's latency to the first connection that got it: the pipeline without fan-out."""
    recorded: dict[tuple[str, int], float] = field(default_factory=dict)
    """Each event's latency to its job-store record (the Redis hop alone), by the producer."""
    loop_lag: float = 0.0
    """The load generator's longest event-loop stall: what it adds to every latency it spans."""
    loop_lag_cpu: float = 0.0
    """CPU time the loop's thread used during that stall (the rest it waited for a core)."""

    def take(self, connection: int, event: _Progress | None) -> None:
        if event is None or event.message is None or not event.message.startswith("t="):
            return  # not one of ours (e.g. the job's started event from history)
        latency = time.time() - float(event.message[2:])
        self.latencies.append(latency)
        self.seen[(connection, event.job_id, event.seq)] += 1
        self.first.setdefault((event.job_id, event.seq), latency)


class Producer:
    """Records and announces progress events as the worker harness does."""

    def __init__(self, store: JobStore, lifecycle: JobLifecycle) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.tally: Tally | None = None

    async def start_job(self, owner: str) -> JobEnvelope:
        envelope = JobEnvelope(
            request=DiagnosticsRequest(), owner=owner, priority=Priority.INTERACTIVE
        )
        base = {"job_id": envelope.job_id, "job_type": "diagnostics", "owner": owner}
        started = await self.store.start(
            envelope,
            JobQueued(**base),
            JobStarted(**base, worker="bench"),
            worker="bench",
            max_crashes=3,
            trace_id=None,
        )
        assert started.started is not None
        return envelope

    async def progress(self, envelope: JobEnvelope, done: int, total: int) -> None:
        event = JobProgressed(
            job_id=envelope.job_id,
            job_type="diagnostics",
            owner=envelope.owner,
            done=done,
            total=total,
            message=f"t={time.time():.6f}",
        )
        outcome = await self.store.transition(
            envelope.job_id,
            envelope.owner,
            allowed=[JobState.RUNNING],
            to=JobState.RUNNING,
            event=event,
        )
        if not outcome.ok or outcome.event is None:
            raise RuntimeError(f"progress of {envelope.job_id} not recorded: {outcome}")
        if self.tally is not None:
            produced = float(event.message[2:])  # type: ignore[index]
            self.tally.recorded[(event.job_id, outcome.event.seq)] = time.time() - produced
        self.lifecycle.announce(event, outcome.event)


async def paced(items: Iterable[tuple[JobEnvelope, int, int]], rate: float, p: Producer) -> float:
    """Produce ``items`` at ``rate`` per second; returns the rate achieved.

    Whatever is due is produced together, so a slow round trip is caught up in the next batch
    instead of lowering the rate.
    """
    pending = list(items)
    sent = 0
    started = time.perf_counter()
    while sent < len(pending):
        due = min(len(pending), int((time.perf_counter() - started) * rate) + 1)
        batch = pending[sent:due]
        sent = due
        await asyncio.gather(*(p.progress(job, done, total) for job, done, total in batch))
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return len(pending) / (time.perf_counter() - started)


class Watcher:
    """One connection of the load generator: subscribes, then feeds events to the tally."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.tally: Tally | None = None
        self.socket: LightSocket | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_text(self, payload: bytes) -> None:
        frame = _frame.decode(payload)
        if frame.type == "event":
            if self.tally is not None:
                self.tally.take(self.index, frame.event)
        elif frame.type == "subscribed" and not self.subscribed.done():
            self.subscribed.set_result(None)
        elif frame.type == "error" and not self.subscribed.done():
            self.subscribed.set_exception(RuntimeError(payload.decode()))


async def open_socket(url: str, index: int, user: str, subscribe: dict[str, object]) -> Watcher:
    watcher = Watcher(index)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, user)}"}
    watcher.socket = await connect(f"{url}/ws", headers, watcher.on_text)
    watcher.socket.send_text(msgspec.json.encode({"type": "subscribe", **subscribe}))
    await asyncio.wait_for(watcher.subscribed, 60)
    return watcher


async def open_sockets(url: str, specs: list[tuple[str, dict[str, object]]]) -> list[Watcher]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int, user: str, subscribe: dict[str, object]) -> Watcher:
        async with gate:
            return await open_socket(url, index, user, subscribe)

    return list(await asyncio.gather(*(one(i, u, sub) for i, (u, sub) in enumerate(specs))))


def close_sockets(watchers: list[Watcher]) -> None:
    for watcher in watchers:
        if watcher.socket is not None:
            watcher.socket.close()


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


@dataclass
class Figures:
    name: str
    expected: int
    tally: Tally
    rate: float
    peak_rss: float

    def print(self) -> None:
        received = len(self.tally.seen)
        duplicates = sum(n - 1 for n in self.tally.seen.values())
        p50, p99 = percentiles(self.tally.latencies) if self.tally.latencies else (0.0, 0.0)
        print(f"{self.name}")
        print(f"  produced at            {self.rate:,.0f} events/s")
        print(f"  delivered              {received:,} of {self.expected:,} "
              f"(lost {self.expected - received:,}, duplicates {duplicates:,})")  # fmt: skip
        print(f"  latency                p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms")
        if self.tally.first:
            f50, f99 = percentiles(list(self.tally.first.values()))
            print(f"  to the first watcher   p50 {f50 * 1000:.1f} ms  p99 {f99 * 1000:.1f} ms")
        if self.tally.recorded:
            r50, r99 = percentiles(list(self.tally.recorded.values()))
            print(f"  to the Redis record    p50 {r50 * 1000:.1f} ms  p99 {r99 * 1000:.1f} ms")
        print(f"  load generator stalls  longest {self.tally.loop_lag * 1000:.1f} ms "
              f"({self.tally.loop_lag_cpu * 1000:.1f} ms of it on a CPU)")  # fmt: skip
        print(f"  gateway peak RSS       {self.peak_rss:.0f} MB")


async def watch_loop_lag(tally: Tally, stop: asyncio.Event, tick: float = 0.005) -> None:
    """Record the longest time this process's loop was late waking from a short sleep."""
    while not stop.is_set():
        before, cpu_before = time.perf_counter(), time.thread_time()
        await asyncio.sleep(tick)
        lag = time.perf_counter() - before - tick
        if lag > tally.loop_lag:
            tally.loop_lag, tally.loop_lag_cpu = lag, time.thread_time() - cpu_before


async def measure(
    process: ServiceProcess,
    producer: Producer,
    sockets: list[Watcher],
    produce: asyncio.Future[float],
    tally: Tally,
    expected: int,
) -> tuple[float, float]:
    """Read every socket while ``produce`` runs; returns (rate produced, gateway peak RSS)."""
    # The connections and jobs live until the end: keep the collector from walking them
    # again and again, pausing this process (and so every connection's reading) each time.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak_rss(process.process.pid, stop, interval=0.2))
    lag = asyncio.create_task(watch_loop_lag(tally, stop))
    gateway_cpu, own_cpu = psutil.Process(process.process.pid), psutil.Process()
    gw_before = gateway_cpu.cpu_times()
    cpu_before = sum(gw_before[:2]), sum(own_cpu.cpu_times()[:2])
    wall = time.perf_counter()
    for watcher in sockets:
        watcher.tally = tally
    producer.tally = tally
    rate = await produce
    # Let the tail arrive: stop once nothing new came for 2 s, or everything did.
    last, quiet_since = -1, time.perf_counter()
    while len(tally.seen) < expected and time.perf_counter() - quiet_since < 2.0:
        await asyncio.sleep(0.1)
        if len(tally.seen) != last:
            last, quiet_since = len(tally.seen), time.perf_counter()
    stop.set()
    wall = time.perf_counter() - wall
    gw_after = gateway_cpu.cpu_times()
    gw_cpu = sum(gw_after[:2]) - cpu_before[0]
    gw_system = gw_after.system - gw_before.system
    own_share = (sum(own_cpu.cpu_times()[:2]) - cpu_before[1]) / wall
    per_event = gw_cpu / max(1, len(tally.seen)) * 1e6
    print(f"  CPU: gateway {gw_cpu / wall:.0%} of a core ({per_event:.0f} us per delivery, "
          f"{gw_system / max(gw_cpu, 1e-9):.0%} in the kernel), "
          f"load generator {own_share:.0%}")  # fmt: skip
    peak = await sampler
    await lag
    close_sockets(sockets)
    return rate, peak


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
