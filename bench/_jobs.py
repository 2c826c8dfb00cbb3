"""Waiting for a job's record to reach a state, for benchmarks that time jobs end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore


async def wait_for_state(
    store: JobStore,
    job_id: str,
    states: set[JobState] | Callable[[JobRecord], bool],
    timeout: float = 20.0,
) -> JobRecord:
    """Poll the record until it is in one of ``states`` (or the predicate holds)."""
    check = states if callable(states) else (lambda r: r.state in states)
    async with asyncio.timeout(timeout):
        while True:
            record = await store.get(job_id)
            if record is not None and check(record):
                return record
            await asyncio.sleep(0.03)
