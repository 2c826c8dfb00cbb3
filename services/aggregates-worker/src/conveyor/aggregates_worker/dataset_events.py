"""Consuming ``dataset.updated``: every instance drops stale results and warms the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import domain_event_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.subscriptions import Broadcast, Exchange, Subscriber

log = logging.getLogger(__name__)

DATASET_UPDATES = Broadcast(
    name="dataset-events",
    exchange=Exchange.EVENTS,
    bindings=(domain_event_routing_key(DatasetUpdated),),
    decode=msgspec.json.Decoder(DatasetUpdated).decode,
    ack=True,
)
"""Each instance holds its own table in memory, so each one hears every event (a queue per
instance, like control commands); the warm-up itself is single-flighted in Redis."""


async def consume_dataset_updates(
    broker: Broker,
    engine: AggregatesEngine,
    instance: str,
    stack: contextlib.AsyncExitStack,
    metrics: Metrics,
) -> None:
    """Subscribe this instance to ``dataset.updated`` and refresh on each event."""
    refreshing: set[asyncio.Task[None]] = set()

    async def on_event(event: DatasetUpdated) -> None:
        log.info("dataset.updated (version %s, source %s)", event.version, event.source)
        task = asyncio.create_task(_refresh(engine))
        refreshing.add(task)
        task.add_done_callback(refreshing.discard)

    subscriber = Subscriber(broker, instance=instance, metrics=metrics)
    subscription = await subscriber.subscribe(DATASET_UPDATES, on_event)
    stack.push_async_callback(subscription.cancel)

    async def stop() -> None:
        for task in list(refreshing):
            task.cancel()
        await asyncio.gather(*refreshing, return_exceptions=True)

    stack.push_async_callback(stop)


async def _refresh(engine: AggregatesEngine) -> None:
    try:
        await engine.refresh()
    except Exception:
        log.exception("refreshing after dataset.updated failed")
