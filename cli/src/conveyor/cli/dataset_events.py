"""Announcing new awards data: ``dataset.updated`` on the events exchange (caches drop and warm)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from conveyor.awards.schema import count_rows, dataset_version
from conveyor.contracts.codecs import encode
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import Topology, domain_event_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.settings import Settings, load_settings


async def publish_dataset_updated(
    directory: Path, *, source: str, environ: Mapping[str, str] | None = None
) -> DatasetUpdated:
    """Publish (confirmed) that the dataset in ``directory`` changed; the event sent.

    Raises ``BrokerUnavailableError`` when RabbitMQ cannot take it. Nobody listening is fine:
    the event is not mandatory, and a worker that starts later reads the version from disk.
    """
    settings = load_settings(Settings, os.environ if environ is None else environ)
    event = DatasetUpdated(
        version=await asyncio.to_thread(dataset_version, directory),
        rows=await asyncio.to_thread(count_rows, directory),
        source=source,
    )
    topology = Topology(settings.namespace)
    broker = Broker(
        settings.amqp_url, topology, connection_name="conveyor-cli", transport=settings.transport
    )
    try:
        await broker.connect()
        await broker.publish(
            topology.events,
            domain_event_routing_key(DatasetUpdated),
            encode(event),
            persistent=False,
            mandatory=False,
        )
    finally:
        await broker.close()
    return event
