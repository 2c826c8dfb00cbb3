"""The Redis transport's fast path against its plain fallback, interleaved in one run.

    uv run python -m bench.redis_transport [--rounds 7] [--calls 20000] [--tasks 64]

Script calls batched by ``ScriptBatcher`` (the job store's and limits' path) from many tasks:
the client process's CPU per call (user + system, robust to a busy Redis) and calls per
second. Rounds alternate the modes (fast first in even rounds); the median of each is printed
with the fast path's gain. ``runtime/transport/`` keeps a fast path only if it gains >= 15 %
(single commands packed by hiredis did not, and were removed: bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import uvloop
from redis.asyncio import Redis

from conveyor.dev_support.namespace import REDIS_URL, delete_redis_keys, new_namespace
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ScriptBatcher
from conveyor.runtime.transport.redis_connections import TransportMode

# Shaped like the job store's transition: a record, its history and an index.
SCRIPT = """
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'attempt', ARGV[2], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return redis.call('HGET', KEYS[1], 'state')
"""
MODES: tuple[TransportMode, ...] = ("fast", "plain")


async def _timed(
    tasks: int, calls: int, one: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    per_task = calls // tasks

    async def run(t: int) -> None:
        for i in range(per_task):
            await one(t * per_task + i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(t) for t in range(tasks)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_task * tasks
    return cpu / done * 1e6, done / wall


async def _scripts(redis: Redis, ns: str, tasks: int, calls: int) -> tuple[float, float]:
    batcher = ScriptBatcher(redis)
    script = batcher.register(SCRIPT, "bench")
    args = ["running", "2", "1700000000.123", "job-" + "0" * 32, "x" * 200, "y" * 60]

    def one(i: int) -> Awaitable[object]:
        k = f"{ns}:job:{i % 1000}"
        return batcher.call(script, [k, f"{k}:events", f"{ns}:index"], args)

    await _timed(tasks, tasks * 20, one)  # warm-up: scripts loaded, connections open
    return await _timed(tasks, calls, one)


async def main(rounds: int, calls: int, tasks: int) -> None:
    ns = new_namespace("bench")
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    clients = {mode: open_redis(REDIS_URL, transport=mode) for mode in MODES}
    try:
        for r in range(rounds):
            order = MODES if r % 2 == 0 else MODES[::-1]
            for mode in order:
                for name, bench in (("scripts", _scripts),):
                    cpu, rate = await bench(clients[mode], ns, tasks, calls)
                    figures.setdefault((name, mode), []).append((cpu, rate))
                    print(f"round {r + 1} {name} {mode:5}: {cpu:5.1f} µs CPU/call, {rate:,.0f}/s")
        print(f"\nmedians of {rounds} rounds, {calls:,} calls of {tasks} tasks each:")
        for name in ("scripts",):
            fast = statistics.median(c for c, _ in figures[(name, "fast")])
            plain = statistics.median(c for c, _ in figures[(name, "plain")])
            fast_rate = statistics.median(r for _, r in figures[(name, "fast")])
            plain_rate = statistics.median(r for _, r in figures[(name, "plain")])
            print(
                f"{name:8}: fast {fast:.1f} µs CPU/call ({fast_rate:,.0f}/s), "
                f"plain {plain:.1f} ({plain_rate:,.0f}/s): fast saves {1 - fast / plain:.0%} CPU, "
                f"{fast_rate / plain_rate - 1:+.0%} calls/s"
            )
    finally:
        for client in clients.values():
            await client.aclose()
        await delete_redis_keys(ns)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=64)
    options = parser.parse_args()
    uvloop.run(main(options.rounds, options.calls, options.tasks))
