"""The aggregates service's handlers: aggregates and search, answered by the engine."""

from __future__ import annotations

from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.contracts.jobs import AggregatesRequest, CachedResult, SearchRequest
from conveyor.runtime.worker import JobContext


async def compute_aggregates(
    request: AggregatesRequest, *, job: JobContext, engine: AggregatesEngine
) -> CachedResult:
    """The dashboard's aggregate set, from the cache or computed once for all who ask."""
    return await engine.aggregates(request, job)


async def search_awards(
    request: SearchRequest, *, job: JobContext, engine: AggregatesEngine
) -> CachedResult:
    """One page of search results and the total, from the cache or computed once."""
    return await engine.search(request, job)
