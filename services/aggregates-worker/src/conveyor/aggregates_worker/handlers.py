"""The aggregates service's handlers and the table mapping job types to them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from conveyor.aggregates_worker.dataset_events import consume_dataset_updates
from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.aggregates_worker.settings import AggregatesSettings
from conveyor.awards.schema import DATASET_DIR
from conveyor.contracts.jobs import AggregatesRequest, CachedResult, SearchRequest
from conveyor.runtime.resources import Resources
from conveyor.runtime.settings import load_settings
from conveyor.runtime.worker import Handler, HandlerTable, JobContext

log = logging.getLogger(__name__)


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


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    settings = load_settings(AggregatesSettings, os.environ)
    engine = AggregatesEngine(
        settings.data_dir / DATASET_DIR,
        resources.redis,
        resources.keys,
        instance=settings.instance,
        ttl_seconds=settings.result_ttl_seconds,
    )
    await consume_dataset_updates(
        resources.broker, engine, settings.instance, stack, resources.metrics
    )
    if settings.warm_on_start:
        warm = asyncio.create_task(engine.refresh(), name="warm-aggregates")
        warm.add_done_callback(_log_failure)
        stack.callback(warm.cancel)
    table = HandlerTable({"resources": resources, "engine": engine})
    table.add(Handler("aggregates", compute_aggregates))
    table.add(Handler("search", search_awards))
    return table


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("warming the aggregates cache failed", exc_info=task.exception())
