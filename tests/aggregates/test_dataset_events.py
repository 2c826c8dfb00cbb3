"""``conveyor data import`` announces new data: ``dataset.updated`` reaches a bound queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from conveyor.awards.schema import count_rows, dataset_version
from conveyor.cli.dataset_events import publish_dataset_updated
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import domain_event_routing_key
from conveyor.runtime.broker import Broker
from tests.support.namespace import base_environ


async def test_the_published_event_names_the_dataset_version(
    broker: Broker, namespace: str, awards_dir: Path
) -> None:
    channel = await broker.open_channel()
    try:
        queue = await broker.declare_instance_queue(
            channel, "test-dataset", "t1", exchange=broker.topology.events,
            bindings=(domain_event_routing_key(DatasetUpdated),),
        )  # fmt: skip
        sent = await publish_dataset_updated(
            awards_dir, source="test", environ=base_environ(namespace)
        )
        message = None
        async with asyncio.timeout(10):
            while message is None:
                message = await queue.get(fail=False)
                await asyncio.sleep(0.02)
        await message.ack()
        event = msgspec.json.decode(message.body, type=DatasetUpdated)
        assert event == sent
        assert (event.version, event.rows) == (dataset_version(awards_dir), count_rows(awards_dir))
    finally:
        await channel.close()
