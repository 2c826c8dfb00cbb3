"""Two real maintenance processes share the schedules: every firing runs exactly once,
also when the leader is SIGKILLed part-way and the other takes over."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.maintenance.firing import firing_job_id
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.schedule_store import ScheduleStore
from tests.maintenance.support import FAST_SCHEDULER_ENV, every_second, tap_jobs
from tests.support.jobs import MAINTENANCE, wait_for_state
from tests.support.services import ServiceProcess, start_worker

SECOND = dt.timedelta(seconds=1)


async def _leader(redis: Redis, keys: Keys) -> tuple[str, int]:
    raw = await redis.get(keys.scheduler_leader)
    assert raw is not None, "no scheduler leader"
    instance, fence = raw.decode().rsplit(" ", 1)
    return instance, int(fence)


@pytest.mark.slow
async def test_every_firing_runs_once_across_a_leader_killed_part_way(
    module_namespace: str,
    module_broker: Broker,
    module_store: JobStore,
    redis: Redis,
    tmp_path: Path,
) -> None:
    keys = Keys(module_namespace)
    await ScheduleStore(redis, keys).put(every_second("tick"))
    env = {**FAST_SCHEDULER_ENV, "CONVEYOR_DATA_DIR": str(tmp_path)}
    processes: list[ServiceProcess] = []
    async with tap_jobs(module_broker) as tap:
        try:
            processes = list(
                await asyncio.gather(
                    *(start_worker(MAINTENANCE, module_namespace, redis, **env) for _ in range(2))
                )
            )
            await tap.wait_for(3, "tick")
            leader, fence = await _leader(redis, keys)
            victim = next(p for p in processes if p.instance == leader)
            await asyncio.sleep(0.4)  # somewhere between two firings, not right after one
            victim.kill()
            killed_at = dt.datetime.now(dt.UTC)
            before = len(tap.fire_times("tick"))
            await tap.wait_for(before + 5, "tick")
            successor, new_fence = await _leader(redis, keys)
            survivor = next(p for p in processes if p is not victim)
            assert successor == survivor.instance
            assert new_fence > fence
        finally:
            await asyncio.gather(*(p.stop() for p in processes))
        await tap.settle()  # the stopped leaders' last jobs were confirmed before this

    times = tap.fire_times("tick")
    counts = collections.Counter(times)
    assert max(counts.values()) == 1, f"fired twice: {[t for t, n in counts.items() if n > 1]}"
    ordered = sorted(counts)
    # No fire time skipped either: the successor caught up what nobody fired meanwhile.
    assert all(b - a == SECOND for a, b in itertools.pairwise(ordered)), ordered
    assert ordered[0] < killed_at < ordered[-1]
    assert len(ordered) >= 8
    for fire_time in ordered:
        record = await wait_for_state(
            module_store, firing_job_id("tick", fire_time), {JobState.SUCCEEDED}, timeout=15
        )
        assert record.owner == "scheduler"
        assert record.trace_id is not None
