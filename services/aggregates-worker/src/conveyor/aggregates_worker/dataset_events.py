"""Consuming ``dataset.updated``: every instance drops stale results and warms the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aio_pika.abc
import msgspec

from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.contracts.events import DatasetUpdated
from conveyor.runtime.broker import Broker

log = logging.getLogger(__name__)

DATASET_UPDATED = "dataset.updated"
"""Routing key (and tag) of the event on the ``events`` exchange."""
_decoder = msgspec.json.Decoder(DatasetUpdated)


async def consume_dataset_updates(
    broker: Broker, engine: AggregatesEngine, instance: str, stack: contextlib.AsyncExitStack
) -> None:
    """Bind this instance's own queue to ``dataset.updated`` and refresh on each event.

    Each instance holds its own table in memory, so each one hears every event (an exclusive
    queue per instance, like control commands); the warm-up itself is single-flighted in Redis.
    """
    channel = await broker.open_channel(prefetch=1)
    stack.push_async_callback(channel.close)
    queue = await broker.declare_instance_queue(
        channel,
        "dataset-events",
        instance,
        exchange=broker.topology.events,
        bindings=(DATASET_UPDATED,),
    )
    refreshing: set[asyncio.Task[None]] = set()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process(ignore_processed=True):
            try:
                event = _decoder.decode(message.body)
            except msgspec.DecodeError as exc:
                log.warning("ignoring an undecodable dataset.updated event: %s", exc)
                return
            log.info("dataset.updated (version %s, source %s)", event.version, event.source)
            task = asyncio.create_task(_refresh(engine))
            refreshing.add(task)
            task.add_done_callback(refreshing.discard)

    await queue.consume(on_message)

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
