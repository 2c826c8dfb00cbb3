"""Benchmark: the maintenance jobs' data work and the scheduler's leader failover.

1. Dataset validation and daily statistics over a generated dataset (default 1,000,000 rows):
   seconds, rows/s and this process's peak RSS.
2. Two maintenance processes on a one-second schedule: the leader is SIGKILLed; prints the gap
   between the last firing of the old leader and the first of the new one, and whether every
   fire time was queued exactly once (with the default ``CONVEYOR_SCHEDULER_LOCK_TTL`` unless
   ``--lock-ttl`` says otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import itertools
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._harness import bench_namespace
from conveyor.awards.generator import generate
from conveyor.awards.schema import dataset_version
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.dev_support.schedules import every_second, tap_jobs
from conveyor.dev_support.services import start_worker
from conveyor.maintenance.daily_statistics import compute_statistics
from conveyor.maintenance.dataset_checks import check_dataset
from conveyor.runtime.broker import Broker
from conveyor.runtime.schedule_store import ScheduleStore


def bench_data(rows: int) -> None:
    out = Path(tempfile.mkdtemp(prefix="conveyor-maintenance-bench-"))
    try:
        generate(rows, out, seed=1, overwrite=True)
        today = dt.date.today()
        started = time.perf_counter()
        report = check_dataset(out, version=dataset_version(out), max_examples=10, today=today)
        validation = time.perf_counter() - started
        started = time.perf_counter()
        compute_statistics(out, today, "bench")
        statistics = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"rows                 {report.rows:,} in {report.files} files")
        print(f"validation           {validation:.2f} s ({rows / validation:,.0f} rows/s)")
        print(f"  problems found     {len(report.problems)}")
        print(f"daily statistics     {statistics:.2f} s ({rows / statistics:,.0f} rows/s)")
        print(f"peak RSS (process)   {peak_mib:,.0f} MiB (generation included)")
    finally:
        shutil.rmtree(out, ignore_errors=True)


async def bench_failover(lock_ttl: float, after: int) -> None:
    async with bench_namespace() as (namespace, redis):
        keys = Keys(namespace)
        broker = Broker(AMQP_URL, Topology(namespace), connection_name="bench")
        await broker.connect()
        await ScheduleStore(redis, keys).put(every_second("tick"))
        env = {"CONVEYOR_SCHEDULER_LOCK_TTL": str(lock_ttl), "CONVEYOR_LOG_LEVEL": "WARNING"}
        data = tempfile.mkdtemp(prefix="conveyor-maintenance-bench-")
        env["CONVEYOR_DATA_DIR"] = data
        processes = []
        try:
            async with tap_jobs(broker) as tap:
                processes = [await start_worker("conveyor.maintenance", namespace, redis, **env)]
                processes.append(
                    await start_worker("conveyor.maintenance", namespace, redis, **env)
                )
                await tap.wait_for(3, "tick", timeout=30)
                raw = await redis.get(keys.scheduler_leader)
                leader = raw.decode().rsplit(" ", 1)[0]
                victim = next(p for p in processes if p.instance == leader)
                arrivals: list[tuple[float, dt.datetime]] = []
                victim.kill()
                killed = time.monotonic()
                await asyncio.sleep(0.3)  # what the victim published before dying arrives
                seen = len(tap.fire_times("tick"))
                deadline = killed + lock_ttl * 2 + after + 10
                while len(arrivals) < after and time.monotonic() < deadline:
                    times = tap.fire_times("tick")
                    arrivals += [(time.monotonic(), t) for t in times[seen:]]
                    seen = len(times)
                    await asyncio.sleep(0.01)
            counts = collections.Counter(tap.fire_times("tick"))
        finally:
            for process in processes:
                process.kill()
            await broker.close()
            shutil.rmtree(data, ignore_errors=True)
        first = arrivals[0][0] - killed if arrivals else float("nan")
        ordered = sorted(counts)
        gaps = [b - a for a, b in itertools.pairwise(ordered)]
        print(f"lock TTL             {lock_ttl:g} s")
        print(f"kill -> next firing  {first:.2f} s (successor took over and caught up)")
        print(
            f"fire times           {len(ordered)}, duplicates {sum(n > 1 for n in counts.values())}"
        )
        print(f"missing fire times   {sum(int(g.total_seconds()) - 1 for g in gaps)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lock-ttl", type=float, default=5.0)
    parser.add_argument("--after", type=int, default=5, help="firings to watch after the kill")
    parser.add_argument("--skip-data", action="store_true")
    parser.add_argument("--skip-failover", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_data:
        bench_data(args.rows)
    if not args.skip_failover:
        asyncio.run(bench_failover(args.lock_ttl, args.after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
