"""The WebSocket fan-out benchmark's measurement: one run's delivery, CPU, memory and the
load generator's own stalls."""

from __future__ import annotations

import asyncio
import gc
import time

import psutil

from bench._fanout_load import Producer, Watcher, close_sockets
from bench._fanout_tally import Tally
from bench._harness import sample_peak_rss
from conveyor.dev_support.services import ServiceProcess


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
