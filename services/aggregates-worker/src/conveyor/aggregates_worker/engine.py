"""Answering aggregates and search jobs: the hot table per dataset version, the Redis result
cache, and single flight for identical requests (in this process and across instances).

A result is stored under ``result:<kind>-<dataset version>-<request digest>``; the version is
read from the files' names, sizes and mtimes on every request, so a changed dataset never
serves an old result, and a cached answer never touches the data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis

from conveyor.aggregates_worker.aggregates import compute_aggregates
from conveyor.aggregates_worker.errors import ComputationCancelledError
from conveyor.aggregates_worker.hot_table import HotTable, load_hot_table
from conveyor.aggregates_worker.search import query_terms, search_awards
from conveyor.awards.folding import search_terms
from conveyor.awards.schema import dataset_version
from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import AggregatesRequest, AwardFilters, CachedResult, SearchRequest
from conveyor.contracts.keys import Keys
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)

KINDS = ("aggregates", "search")
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
"""Delete the lock only if it still holds our token: once it lapsed (a computation longer than
its expiry) another instance may hold it, and a plain DEL would free *its* lock."""
Compute = Callable[[HotTable, threading.Event, Callable[[int, int, str], None]], Any]


def normalised_filters(filters: AwardFilters) -> dict[str, Any]:
    """Filters in a canonical form: order and duplicates in the lists do not change a result."""
    return {
        "contractors": sorted(set(filters.contractors)),
        "organizations": sorted(set(filters.organizations)),
        "areas": sorted(set(filters.areas)),
        "business_categories": sorted(set(filters.business_categories)),
        "keywords": sorted(search_terms(filters.keywords)),
        "time_ranges": sorted(
            {(r.start.isoformat(), r.end.isoformat()) for r in filters.time_ranges}
        ),
        "value_range": None
        if filters.value_range is None
        else [filters.value_range.min, filters.value_range.max],
    }


def request_digest(request: AggregatesRequest | SearchRequest) -> str:
    """A digest of the request's meaning (not its spelling)."""
    canonical: dict[str, Any] = {"filters": normalised_filters(request.filters)}
    if isinstance(request, AggregatesRequest):
        canonical["top_n"] = request.top_n
    else:
        canonical.update(
            terms=sorted(query_terms(request.query)),
            sort=[[k.column, k.descending] for k in request.sort],
            page=request.page,
            page_size=request.page_size,
        )
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()[:32]


def cache_digest(kind: str, version: str, digest: str) -> str:
    return f"{kind}-{version}-{digest}"


@dataclass
class _Flight:
    """One computation that several jobs wait for; stops only when none of them waits."""

    task: asyncio.Task[tuple[str, bool]] | None = None
    waiters: dict[int, JobContext | None] = field(default_factory=dict)
    """Waiting callers by the ``id()`` of a token of theirs, with their job (if any)."""
    cancelled: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int, message: str) -> None:
        for job in list(self.waiters.values()):
            if job is not None:
                job.report_progress_threadsafe(done, total, message)


class AggregatesEngine:
    """Everything the aggregates and search handlers need (the ``engine`` dependency)."""

    def __init__(
        self,
        dataset_dir: Path,
        redis: Redis,
        keys: Keys,
        *,
        instance: str,
        ttl_seconds: int = 86_400,
        lock_seconds: int = 600,
    ) -> None:
        self.dataset_dir = dataset_dir
        self.redis = redis
        self.keys = keys
        self.instance = instance
        self.ttl_seconds = ttl_seconds
        self.lock_seconds = lock_seconds
        self._table: HotTable | None = None
        self._loading: asyncio.Task[HotTable] | None = None
        self._flights: dict[str, _Flight] = {}

    # -- the hot table ---------------------------------------------------------------------

    async def current_version(self) -> str:
        return await asyncio.to_thread(self._version)

    def _version(self) -> str:
        return dataset_version(self.dataset_dir) if self.dataset_dir.is_dir() else "empty"

    async def table(self, version: str) -> HotTable:
        """The table of ``version`` (or newer); concurrent callers share one load."""
        table = self._table
        if table is not None and table.version == version:
            return table
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._load(), name="load-awards")
        return await asyncio.shield(self._loading)

    async def _load(self) -> HotTable:
        log.info("loading the awards dataset into memory")
        # The old table is released first, so two versions never share the memory.
        self._table = None
        table = await asyncio.to_thread(load_hot_table, self.dataset_dir)
        self._table = table
        log.info("loaded dataset %s: %d awards", table.version, table.rows)
        return table

    # -- jobs --------------------------------------------------------------------------------

    async def aggregates(self, request: AggregatesRequest, job: JobContext | None) -> CachedResult:
        def compute(table: HotTable, cancelled: threading.Event, progress: Any) -> Any:
            return compute_aggregates(table, request, cancelled=cancelled, progress=progress)

        return await self._answer("aggregates", request_digest(request), compute, job)

    async def search(self, request: SearchRequest, job: JobContext | None) -> CachedResult:
        def compute(table: HotTable, cancelled: threading.Event, progress: Any) -> Any:
            return search_awards(table, request, cancelled=cancelled, progress=progress)

        return await self._answer("search", request_digest(request), compute, job)

    async def _answer(
        self, kind: str, digest: str, compute: Compute, job: JobContext | None
    ) -> CachedResult:
        version = await self.current_version()
        key = self.keys.result_cache(cache_digest(kind, version, digest))
        if await self.redis.expire(key, self.ttl_seconds):  # a hit, kept for another TTL
            return CachedResult(key=key, cache_hit=True)
        flight = self._flights.get(key)
        if flight is None or flight.cancelled.is_set():  # a stopping flight takes nobody on
            flight = self._flights[key] = self._start_flight(kind, key, version, digest, compute)
        # Every caller counts as a waiter (the warm-up too); only jobs get progress.
        token = object()
        flight.waiters[id(token)] = job
        assert flight.task is not None
        try:
            stored, computed = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            flight.waiters.pop(id(token), None)
            if not flight.waiters:
                flight.cancelled.set()  # nobody else waits: stop at the next step
            raise
        finally:
            flight.waiters.pop(id(token), None)
        return CachedResult(key=stored, cache_hit=not computed)

    def _start_flight(
        self, kind: str, key: str, version: str, digest: str, compute: Compute
    ) -> _Flight:
        flight = _Flight()
        flight.task = asyncio.create_task(self._fly(kind, key, version, digest, compute, flight))

        def forget(_: object) -> None:
            if self._flights.get(key) is flight:  # not a newer flight of the same key
                del self._flights[key]

        flight.task.add_done_callback(forget)
        return flight

    async def _fly(
        self, kind: str, key: str, version: str, digest: str, compute: Compute, flight: _Flight
    ) -> tuple[str, bool]:
        """Compute and store one result unless another instance does.

        Returns the key it is stored under and whether this call computed it.
        """
        lock = self.keys.result_lock(key.rsplit(":", 1)[-1])
        token = f"{self.instance}:{uuid.uuid4().hex}"
        while not await self.redis.set(lock, token, nx=True, ex=self.lock_seconds):
            # Another instance computes it: wait for its result (or for its lock to lapse),
            # unless nobody waits any more.
            if flight.cancelled.is_set():
                raise asyncio.CancelledError()
            await asyncio.sleep(0.05)
            if await self.redis.exists(key):
                return key, False
        try:
            if await self.redis.exists(key):
                return key, False
            table = await self.table(version)
            if table.version != version:  # the files changed meanwhile: store what we hold
                key = self.keys.result_cache(cache_digest(kind, table.version, digest))
            try:
                result = await asyncio.to_thread(compute, table, flight.cancelled, flight.progress)
            except ComputationCancelledError:
                raise asyncio.CancelledError() from None
            await self.redis.set(key, encode(result), ex=self.ttl_seconds)
            await self.redis.hincrby(self.keys.result_computations, kind, 1)
            return key, True
        finally:
            await self._release(lock, token)

    async def _release(self, lock: str, token: str) -> bool:
        """Release ``lock`` if ``token`` still holds it; whether it did."""
        released = await self.redis.eval(_RELEASE_LOCK, 1, lock, token)
        return bool(released)

    # -- dataset updates -------------------------------------------------------------------

    async def refresh(self) -> int:
        """After a dataset update: drop other versions' results, reload, warm the dashboard.

        Returns the number of cache entries dropped.
        """
        version = await self.current_version()
        dropped = 0
        for kind in KINDS:
            pattern = self.keys.result_cache(f"{kind}-*")
            stale = [
                k
                async for k in self.redis.scan_iter(match=pattern, count=1000)
                if cache_digest(kind, version, "")
                not in (k.decode() if isinstance(k, bytes) else k)
            ]
            if stale:
                dropped += await self.redis.delete(*stale)
        log.info("dataset %s: dropped %d cached results of older versions", version, dropped)
        await self.aggregates(AggregatesRequest(), None)
        return dropped
