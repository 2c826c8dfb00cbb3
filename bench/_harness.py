"""Shared plumbing for benchmarks: a throwaway namespace and service processes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from urllib.parse import urlsplit

import psutil
from redis.asyncio import Redis

from conveyor.dev_support.namespace import (
    AMQP_URL,
    REDIS_URL,
    delete_rabbit_entities,
    delete_redis_keys,
    new_namespace,
)
from conveyor.dev_support.services import ServiceProcess, running_worker
from conveyor.runtime.redis_client import open_redis


@contextlib.asynccontextmanager
async def bench_namespace() -> AsyncIterator[tuple[str, Redis]]:
    ns = new_namespace("bench")
    redis = open_redis(REDIS_URL)
    try:
        yield ns, redis
    finally:
        await redis.aclose()
        await delete_redis_keys(ns)
        await delete_rabbit_entities(ns)


@contextlib.asynccontextmanager
async def worker_process(
    namespace: str, redis: Redis, module: str = "conveyor.maintenance", **env: str
) -> AsyncIterator[ServiceProcess]:
    """A worker that logs warnings only, so logging does not weigh on the figures."""
    async with running_worker(
        module, namespace, redis, **{"CONVEYOR_LOG_LEVEL": "WARNING", **env}
    ) as w:
        yield w


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def host_speed_ns() -> float:
    """CPU time of a fixed pure-Python loop, ns per iteration (best of 3; lower is faster).

    This VM's host lends it faster or slower cores from one hour to the next (the same
    commit's figures moved by a factor of 1.5); printed beside the figures, it tells runs on
    a slow host from slow code.
    """

    def loop() -> None:
        total = 0
        for i in range(1_000_000):
            total += i * i % 7

    return _best_cpu_seconds(loop) * 1e9 / 1_000_000


def heap_walk_ns() -> float:
    """CPU time of one read at a random place of a 30,000-object heap, ns (best of 3).

    The services' working set spills out of the core's own caches, so their cost follows
    the memory latency the host lends the VM, which its neighbours change from hour to hour
    and the reference loop does not see: the same commit took 294 and then 496 worker µs per
    job at the same reference-loop time. A 3,000-object heap (cache-resident) reads in 90 ns;
    this one read in 162 ns in a run at 308 worker µs per job and in 430-790 ns in runs at
    390-505.
    """
    objects = [{"k": i} for i in range(30_000)]
    order = list(range(len(objects)))
    random.Random(1).shuffle(order)
    order *= 10

    def walk() -> None:
        total = 0
        for i in order:
            total += objects[i]["k"]

    return _best_cpu_seconds(walk) * 1e9 / len(order)


def _best_cpu_seconds(run: Callable[[], None]) -> float:
    """The least CPU time ``run`` took in three runs (the least disturbed one)."""
    times = []
    for _ in range(3):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def print_host_speed() -> None:
    print(
        f"host speed                {host_speed_ns():.1f} ns per reference loop, "
        f"{heap_walk_ns():.0f} ns per heap read (lower: faster)"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (robust to a busy machine)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def server_processes() -> dict[str, psutil.Process]:
    """The RabbitMQ and Redis servers' processes the benchmarks use (whichever are found, by
    the port they listen on: tests start private instances beside them), by name."""
    ports = {
        "RabbitMQ": urlsplit(AMQP_URL).port or 5672,
        "Redis": urlsplit(REDIS_URL).port or 6379,
    }
    found: dict[str, psutil.Process] = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        command = process.info["cmdline"] or []
        if process.info["name"] == "beam.smp" and "rabbit" in command and "boot" in command:
            name = "RabbitMQ"
        elif process.info["name"] == "redis-server":
            name = "Redis"
        else:
            continue
        with contextlib.suppress(psutil.Error):  # it exited meanwhile: not ours, then
            if ports[name] in _listening_ports(process):
                found[name] = process
    return found


def process_listening_on(port: int, name: str) -> psutil.Process:
    """The process called ``name`` (e.g. ``beam.smp``) that listens on ``port``."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == name:
            with contextlib.suppress(psutil.Error):
                if port in _listening_ports(process):
                    return process
    raise LookupError(f"no {name} listens on port {port}")


def _listening_ports(process: psutil.Process) -> set[int]:
    return {
        connection.laddr.port
        for connection in process.net_connections(kind="tcp")
        if connection.status == psutil.CONN_LISTEN
    }


def io_syscalls(pid: int) -> tuple[int, int]:
    """(read, write) system calls the process has made so far (sockets included)."""
    counts = {}
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            name, _, value = line.partition(":")
            counts[name] = int(value)
    return counts["syscr"], counts["syscw"]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM: kept by the kernel, misses nothing)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise LookupError(f"no VmHWM for process {pid}")


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) of ``samples``."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def sample_peak_rss(pid: int, stop: asyncio.Event, interval: float = 0.05) -> float:
    peak = 0.0
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak = max(peak, rss_mb(pid))
        await asyncio.sleep(interval)
    return peak
