"""The engine's single flight and cancellation, against the real Redis."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.aggregates_worker.engine import AggregatesEngine, request_digest
from conveyor.aggregates_worker.errors import ComputationCancelledError
from conveyor.contracts.jobs import (
    AggregatesRequest,
    AwardFilters,
    Priority,
    SearchRequest,
    SortKey,
)
from conveyor.contracts.keys import Keys
from conveyor.runtime.worker import JobContext
from conveyor.runtime.worker.progress import ProgressThrottle


def job_context() -> JobContext:
    return JobContext(
        job_id=uuid.uuid4().hex, job_type="aggregates", owner="t", attempt=1, max_attempts=1,
        priority=Priority.INTERACTIVE, delivery=1, trace_id=None,
        throttle=ProgressThrottle(loop=asyncio.get_running_loop()),
    )  # fmt: skip


class Blocking:
    """A computation that runs until it is cancelled or released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.stopped = threading.Event()
        self.runs = 0

    def __call__(self, table: Any, cancelled: threading.Event, progress: Any) -> dict[str, int]:
        self.runs += 1
        self.started.set()
        while not self.release.wait(0.01):
            if cancelled.is_set():
                self.stopped.set()
                raise ComputationCancelledError("test")
        return {"answer": 42}


@pytest.fixture
def engine(awards_dir: Path, redis: Redis, namespace: str) -> AggregatesEngine:
    return AggregatesEngine(awards_dir, redis, Keys(namespace), instance="test")


async def test_cancelling_the_only_waiter_stops_the_computation(
    engine: AggregatesEngine, redis: Redis
) -> None:
    compute = Blocking()
    digest = uuid.uuid4().hex
    task = asyncio.create_task(engine._answer("aggregates", digest, compute, job_context()))
    assert await asyncio.to_thread(compute.started.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(compute.stopped.wait, 10)
    # Nothing was cached, and the lock is gone: the next request computes afresh.
    compute.release.set()
    answer = await engine._answer("aggregates", digest, compute, job_context())
    assert not answer.cache_hit and compute.runs == 2
    assert await redis.get(answer.key) == b'{"answer":42}'


async def test_a_computation_continues_while_another_job_waits_for_it(
    engine: AggregatesEngine,
) -> None:
    compute = Blocking()
    digest = uuid.uuid4().hex
    leaving = asyncio.create_task(engine._answer("aggregates", digest, compute, job_context()))
    staying = asyncio.create_task(engine._answer("aggregates", digest, compute, job_context()))
    assert await asyncio.to_thread(compute.started.wait, 30)
    leaving.cancel()
    await asyncio.sleep(0.1)
    assert not compute.stopped.is_set()
    compute.release.set()
    answer = await staying
    assert compute.runs == 1 and not answer.cache_hit


def test_the_cache_key_ignores_spelling_but_not_meaning() -> None:
    a = AggregatesRequest(filters=AwardFilters(areas=["NCR", "Region I"], keywords=[" Road "]))
    b = AggregatesRequest(filters=AwardFilters(areas=["Region I", "NCR", "NCR"], keywords=["road"]))
    assert request_digest(a) == request_digest(b)
    assert request_digest(a) != request_digest(AggregatesRequest(filters=a.filters, top_n=11))
    s = SearchRequest(query='Road "san jose"')
    assert request_digest(s) == request_digest(SearchRequest(query='"SAN  JOSE" road'))
    # Keywords are read as the query is: words apart, accents and case folded.
    words = AggregatesRequest(filters=AwardFilters(keywords=["Cañal  Drainage"]))
    apart = AggregatesRequest(filters=AwardFilters(keywords=["drainage", "canal"]))
    phrase = AggregatesRequest(filters=AwardFilters(keywords=['"canal drainage"']))
    assert request_digest(words) == request_digest(apart) != request_digest(phrase)
    assert request_digest(s) != request_digest(
        SearchRequest(query=s.query, sort=[SortKey(column="award_date")])
    )


async def test_a_lapsed_lock_taken_by_another_instance_is_not_released(
    engine: AggregatesEngine, redis: Redis, namespace: str
) -> None:
    lock = Keys(namespace).result_lock("aggregates-v-digest")
    await redis.set(lock, "other-instance:token", ex=60)
    # Our token no longer holds it (ours lapsed, another instance took it): left alone.
    assert not await engine._release(lock, "test:our-token")
    assert await redis.get(lock) == b"other-instance:token"
    assert await engine._release(lock, "other-instance:token")
    assert await redis.exists(lock) == 0
