"""Chaos benchmark: the fault scenarios of ``tests/chaos`` at a larger scale, with a tally.

    uv run python -m bench.chaos                       # every scenario, 1,000 jobs each
    uv run python -m bench.chaos --jobs 300 --only worker-kills broker-restart
    uv run python -m bench.chaos --soak 30             # 30 minutes, RSS per service per minute

Each scenario runs on a private RabbitMQ node and a private Redis (the shared ones are never
touched): a gateway, maintenance workers, and clients submitting marked diagnostics jobs
through the gateway while a fault strikes. The table says, per scenario, how many jobs were
accepted (202), succeeded, failed, were dead-lettered, were lost (accepted but no final
record), were duplicated (more runs than worker deaths explain), how many requests were
refused (503) and whether a refused one ran anyway, and the recovery time: from the end of
a fault to the next job finishing (the worst of the scenario's faults).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import psutil

from bench._chaos_ledger import Ledger, Tally, deaths, final_records, runs_in, tally
from bench._chaos_nodes import Nodes, private_nodes
from conveyor.contracts.codecs import envelope_decoder
from conveyor.contracts.jobs import DiagnosticsRequest
from conveyor.contracts.keys import Keys
from conveyor.contracts.schedules import Schedule, ScheduleTrigger
from conveyor.contracts.topology import Topology
from conveyor.maintenance.firing import firing_job_id
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.schedule_store import ScheduleStore
from conveyor.runtime.tokens import mint_token

SECRET = "bench-chaos-secret-of-at-least-32-bytes"
SERVICE_ENV = {
    "CONVEYOR_ENV": "development",
    "CONVEYOR_TEST_HOOKS": "true",  # long diagnostics sleeps
    "CONVEYOR_JWT_SECRET": SECRET,
    "CONVEYOR_LOG_FORMAT": "json",
    # One user stands for many clients: limits that never refuse.
    "CONVEYOR_SUBMIT_RATE": "1000000",
    "CONVEYOR_SUBMIT_BURST": "1000000",
    "CONVEYOR_MAX_JOBS_IN_FLIGHT": "1000000",
    "CONVEYOR_RETRY_AFTER_SECONDS": "1",
    "CONVEYOR_HEARTBEAT_INTERVAL": "1",
    "CONVEYOR_RETRY_BASE_DELAY": "0.3",
    "CONVEYOR_PROGRESS_INTERVAL": "0.25",
    "CONVEYOR_MAX_CRASHES": "10",
    "CONVEYOR_SCHEDULER_ENABLED": "false",
    "CONVEYOR_CONCURRENCY": "16",
}
SCHEDULER_ENV = {
    "CONVEYOR_SCHEDULER_ENABLED": "true",
    "CONVEYOR_SCHEDULER_LOCK_TTL": "1.5",
    "CONVEYOR_SCHEDULER_SYNC_INTERVAL": "0.5",
}


@dataclass
class Faults:
    """What a scenario body reports: when its faults ended, and records lost by design."""

    fault_ends: list[dt.datetime] = field(default_factory=list)
    excused_lost: set[str] = field(default_factory=set)

    def ended(self) -> None:
        self.fault_ends.append(dt.datetime.now(dt.UTC))


Body = Callable[[Nodes, Ledger, int, Faults], Awaitable[None]]


async def _answered(ledger: Ledger, count: int) -> None:
    while len(ledger.answers) < count:
        await asyncio.sleep(0.05)


def _load(
    ledger: Ledger, jobs: int, *, sleep_seconds: float = 0.5, steps: int = 2
) -> asyncio.Task[None]:
    return asyncio.create_task(
        ledger.submit_until(jobs, clients=8, pause=0.02, sleep_seconds=sleep_seconds, steps=steps)
    )


async def worker_kills(nodes: Nodes, ledger: Ledger, jobs: int, faults: Faults) -> None:
    for _ in range(3):
        await nodes.start_worker()
    load = _load(ledger, jobs)
    kills = max(4, jobs // 200)
    while kills and not load.done():
        victim = nodes.workers()[0]
        while len(runs_in([victim.output()])) < 20 and victim.alive:
            await asyncio.sleep(0.1)
        nodes.kill(victim)
        faults.ended()  # the others carry on at once; the victim's jobs wait for its heartbeat
        kills -= 1
        await nodes.start_worker()
    await load


def broker_restart(crash: bool) -> Body:
    async def body(nodes: Nodes, ledger: Ledger, jobs: int, faults: Faults) -> None:
        for _ in range(3):
            await nodes.start_worker()
        load = _load(ledger, jobs)
        await _answered(ledger, jobs // 3)
        await (nodes.rabbit.kill() if crash else nodes.rabbit.stop())
        await nodes.rabbit.start()
        faults.ended()
        await load

    return body


async def broker_blips(nodes: Nodes, ledger: Ledger, jobs: int, faults: Faults) -> None:
    for _ in range(3):
        await nodes.start_worker(CONVEYOR_CONCURRENCY="100")
    load = _load(ledger, jobs, sleep_seconds=8, steps=16)
    await _answered(ledger, jobs // 4)
    for _ in range(3):
        before = await nodes.rabbit.connections()
        await nodes.rabbit.ctl("close_all_connections", "bench.chaos: a broker blip")
        while len(await nodes.rabbit.connections() - before) < len(before):
            await asyncio.sleep(0.2)
        faults.ended()
        await asyncio.sleep(2)  # the next blip a little later, while the jobs still run
    await load


async def redis_restart(nodes: Nodes, ledger: Ledger, jobs: int, faults: Faults) -> None:
    for _ in range(3):
        await nodes.start_worker()
    load = _load(ledger, jobs)
    await _answered(ledger, jobs // 3)
    crashed_at = dt.datetime.now(dt.UTC)
    await nodes.redis.kill()
    await asyncio.sleep(2)  # the outage
    await nodes.redis.start()
    faults.ended()
    await load
    if not nodes.redis.persistent:
        # By design: the records of jobs finished before the crash went with Redis' data.
        faults.excused_lost = {r.job_id for r in runs_in(nodes.logs()) if r.at < crashed_at}


SCENARIOS: dict[str, tuple[Body, bool]] = {
    "worker-kills": (worker_kills, True),
    "broker-restart": (broker_restart(crash=False), True),
    "broker-crash": (broker_restart(crash=True), True),
    "broker-blips": (broker_blips, True),
    "redis-restart-aof": (redis_restart, True),
    "redis-restart-volatile": (redis_restart, False),
}


async def run_scenario(name: str, jobs: int) -> Tally:
    body, persistent = SCENARIOS[name]
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    async with private_nodes(namespace, SERVICE_ENV, persistent=persistent) as nodes:
        ledger = Ledger(await nodes.start_gateway(), mint_token(SECRET, "bench-chaos"))
        faults = Faults()
        await body(nodes, ledger, jobs, faults)
        redis = open_redis(nodes.redis.url)
        try:
            store = JobStore(redis, Keys(namespace), retention_seconds=3600)
            pending = [j for j in ledger.accepted if j not in faults.excused_lost]
            records = await final_records(store, pending, timeout=300)
            records |= await final_records(store, faults.excused_lost & set(ledger.accepted), 1)
            counts = await deaths(store, ledger.accepted)
        finally:
            await redis.aclose()
        runs = runs_in(nodes.logs())
        return tally(
            name,
            ledger,
            records,
            runs,
            counts,
            killed=nodes.killed,
            recovery=_recovery(faults.fault_ends, [r.at for r in runs]),
            excused_lost=faults.excused_lost,
        )


def _recovery(fault_ends: list[dt.datetime], finishes: list[dt.datetime]) -> float | None:
    """Worst time from a fault's end to the next job finishing."""
    worst = None
    for end in fault_ends:
        after = [t for t in finishes if t >= end]
        if after:
            gap = (min(after) - end).total_seconds()
            worst = gap if worst is None else max(worst, gap)
    return worst


async def scheduler_leader_kills(kills: int) -> Tally:
    """A schedule firing every second; its leader SIGKILLed ``kills`` times at varied moments.
    Accepted: distinct fire times; lost: fire times skipped; duplicated: jobs run twice."""
    with tempfile.TemporaryDirectory(prefix="bench-chaos-data-") as data:
        return await _scheduler_leader_kills(kills, data)


async def _scheduler_leader_kills(kills: int, data: str) -> Tally:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**SERVICE_ENV, **SCHEDULER_ENV, "CONVEYOR_DATA_DIR": data}
    async with private_nodes(namespace, env, persistent=True) as nodes:
        redis = open_redis(nodes.redis.url)
        keys = Keys(namespace)
        schedule = Schedule(
            name="tick",
            request=DiagnosticsRequest(numbers=[1]),
            trigger=ScheduleTrigger(interval_seconds=1),
            coalesce=False,
            misfire_grace_seconds=60,
            changed_at=dt.datetime.now(dt.UTC),
        )
        await ScheduleStore(redis, keys).put(schedule)
        fire_times: list[str] = []
        connection = await aio_pika.connect(nodes.rabbit.url)
        channel = await connection.channel()
        await channel.declare_exchange(Topology(namespace).jobs, "topic", durable=True)
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(Topology(namespace).jobs, "job.diagnostics")

        async def seen(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            key = envelope_decoder.decode(message.body).idempotency_key or ""
            if key.startswith("schedule:tick:"):
                fire_times.append(key.split(":", 2)[2])

        await tap.consume(seen, no_ack=True)
        faults = Faults()
        try:
            for _ in range(3):
                await nodes.start_worker()
            for i in range(kills):
                count = len(fire_times)
                while len(fire_times) <= count:
                    await asyncio.sleep(0.02)
                await asyncio.sleep((i % 4) * 0.3)  # right after a firing, and on towards the next
                raw = await redis.get(keys.scheduler_leader)
                leader = (raw.decode() if isinstance(raw, bytes) else raw or "").split(" ")[0]
                [victim] = [w for w in nodes.workers() if w.instance == leader]
                nodes.kill(victim)
                faults.ended()
                await nodes.start_worker()
            count = len(fire_times)
            while len(fire_times) < count + 3:
                await asyncio.sleep(0.05)
            await connection.close()
            distinct = sorted({dt.datetime.fromisoformat(t) for t in fire_times})
            span = int((distinct[-1] - distinct[0]).total_seconds()) + 1
            store = JobStore(redis, keys, retention_seconds=3600)
            jobs = [firing_job_id("tick", t) for t in distinct]
            records = await final_records(store, jobs, timeout=60)
            counts = await deaths(store, jobs)
        finally:
            await redis.aclose()
        runs = [r for r in runs_in(nodes.logs()) if r.job_id in set(jobs)]
        ledger = Ledger("", "")
        result = tally(
            "scheduler-leader-kills",
            ledger,
            records,
            runs,
            counts,
            killed=nodes.killed,
            recovery=_recovery(faults.fault_ends, [r.at for r in runs]),
        )
        result.accepted = len(distinct)
        result.lost += span - len(distinct)  # fire times nobody fired
        result.notes = f"{kills} leader kills, {len(fire_times) - len(distinct)} re-publishes"
        return result


def print_table(rows: list[Tally]) -> None:
    head = (
        f"{'scenario':24} {'accepted':>8} {'succeeded':>9} {'failed':>6} {'dead':>5} "
        f"{'lost':>5} {'dup':>4} {'refused':>7} {'503 s':>5} {'ran 503':>7} {'bad':>4} "
        f"{'recovery s':>10}"
    )
    print(head)
    print("-" * len(head))
    for t in rows:
        recovery = f"{t.recovery:.2f}" if t.recovery is not None else "-"
        slowest = f"{t.slowest_refusal:.2f}" if t.slowest_refusal is not None else "-"
        print(
            f"{t.scenario:24} {t.accepted:>8} {t.succeeded:>9} {t.failed:>6} {t.dead:>5} "
            f"{t.lost:>5} {t.duplicated:>4} {t.refused:>7} {slowest:>5} {t.refused_but_ran:>7} "
            f"{t.bad_answers:>4} {recovery:>10}  {t.notes}"
        )


async def soak(minutes: float) -> None:
    """Steady load for ``minutes`` with a fault each minute (a worker kill, then a broker
    blip, in turn); prints every service's RSS each minute."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    async with private_nodes(namespace, SERVICE_ENV, persistent=True) as nodes:
        url = await nodes.start_gateway()
        for _ in range(2):
            await nodes.start_worker()
        ledger = Ledger(url, mint_token(SECRET, "bench-soak"))
        stop = asyncio.Event()
        load = asyncio.create_task(
            ledger.submit_until(10**9, clients=2, pause=0.05, stop=stop, sleep_seconds=0.2)
        )
        began = time.monotonic()
        print(f"{'minute':>6} {'accepted':>9}  RSS MB per service")
        for minute in range(1, int(minutes) + 1):
            await asyncio.sleep(max(0.0, began + 60 * minute - time.monotonic()))
            rss = {
                s.instance: psutil.Process(s.process.pid).memory_info().rss / 1e6
                for s in nodes.services
                if s.alive
            }
            for name, pid in (("rabbitmq", nodes.rabbit.pid), ("redis", nodes.redis.pid)):
                if pid is not None:
                    server = psutil.Process(pid)
                    tree = [server, *server.children(recursive=True)]
                    rss[name] = sum(p.memory_info().rss for p in tree) / 1e6
            cells = "  ".join(f"{k} {v:.0f}" for k, v in sorted(rss.items()))
            print(f"{minute:>6} {len(ledger.accepted):>9}  {cells}", flush=True)
            if minute % 2:
                nodes.kill(nodes.workers()[0])
                await nodes.start_worker()
            else:
                await nodes.rabbit.ctl("close_all_connections", "bench.chaos soak blip")
        stop.set()
        await load


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="accepted jobs per scenario")
    parser.add_argument("--kills", type=int, default=8, help="scheduler leader kills")
    parser.add_argument(
        "--only", nargs="+", choices=[*SCENARIOS, "scheduler-leader-kills"], help="scenarios"
    )
    parser.add_argument("--soak", type=float, nargs="?", const=30, help="soak for N minutes")
    args = parser.parse_args()
    if args.soak is not None:
        await soak(args.soak)
        return
    names = args.only or [*SCENARIOS, "scheduler-leader-kills"]
    rows = []
    for name in names:
        began = time.monotonic()
        if name == "scheduler-leader-kills":
            rows.append(await scheduler_leader_kills(args.kills))
        else:
            rows.append(await run_scenario(name, args.jobs))
        print(f"{name}: {time.monotonic() - began:.0f} s", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    asyncio.run(main())
