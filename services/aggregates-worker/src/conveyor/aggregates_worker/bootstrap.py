"""Wiring the aggregates service from its settings and resources: the engine, its dataset
update feed and cache warming, and the handler table."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from conveyor.aggregates_worker.dataset_events import consume_dataset_updates
from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.aggregates_worker.handlers import compute_aggregates, search_awards
from conveyor.aggregates_worker.settings import AggregatesSettings
from conveyor.awards.schema import DATASET_DIR
from conveyor.runtime.resources import Resources
from conveyor.runtime.settings import load_settings
from conveyor.runtime.worker import Handler, HandlerTable

log = logging.getLogger(__name__)


async def bootstrap(
    settings: AggregatesSettings, resources: Resources, stack: contextlib.AsyncExitStack
) -> HandlerTable:
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
    table = HandlerTable({"engine": engine})
    table.add(Handler("aggregates", compute_aggregates))
    table.add(Handler("search", search_awards))
    return table


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    """The worker runner's hook: this service's settings (from the environment), then wiring."""
    return await bootstrap(load_settings(AggregatesSettings), resources, stack)


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("warming the aggregates cache failed", exc_info=task.exception())
