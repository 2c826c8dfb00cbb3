"""``conveyor data import`` run as a real process publishes ``dataset.updated`` to RabbitMQ."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika.abc
import msgspec
import pytest

from conveyor.awards.schema import count_rows, dataset_version
from conveyor.contracts.events import DatasetUpdated
from conveyor.runtime.broker import Broker
from tests.cli._run import conveyor
from tests.support.namespace import base_environ

HEADERS = ["AWARD REFERENCE NO.", "Supplier Name", "Contract Amount (PHP)", "Award Date"]


def _csv(path: Path, references: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows([r, "Santos Builders, Inc.", "1,000.50", "2020-03-01"] for r in references)
    return path


@pytest.fixture
async def dataset_events(broker: Broker) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of this run's namespace bound to ``dataset.updated``."""
    channel = await broker.open_channel()
    queue = await broker.declare_instance_queue(
        channel, "test-cli-dataset", "t1", exchange=broker.topology.events,
        bindings=("dataset.updated",),
    )  # fmt: skip
    yield queue
    await channel.close()


async def _import(namespace: str, *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(conveyor, "data", "import", *args, env=base_environ(namespace))
    return done.returncode, done.stdout, done.stderr


async def test_an_import_announces_the_new_dataset_version(
    dataset_events: aio_pika.abc.AbstractQueue, namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "awards"
    source = _csv(tmp_path / "awards.csv", ["2020-001", "2020-002", "2020-003"])
    status, stdout, stderr = await _import(namespace, str(source), "--out", str(out))
    assert status == 0, stderr
    version = dataset_version(out)
    assert f"announced dataset.updated (version {version})" in stdout
    message = None
    async with asyncio.timeout(10):
        while message is None:
            message = await dataset_events.get(fail=False)
            await asyncio.sleep(0.02)
    await message.ack()
    event = msgspec.json.decode(message.body, type=DatasetUpdated)
    assert (event.version, event.rows, event.source) == (
        version,
        count_rows(out),
        "conveyor data import",
    )
    assert event.rows == 3


async def test_no_announce_and_an_import_accepting_nothing_publish_nothing(
    dataset_events: aio_pika.abc.AbstractQueue, namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "awards"
    quiet = _csv(tmp_path / "quiet.csv", ["2021-001"])
    status, stdout, stderr = await _import(
        namespace, str(quiet), "--out", str(out), "--no-announce"
    )
    assert status == 0, stderr
    assert "announced" not in stdout
    rejected = _csv(tmp_path / "rejected.csv", [""])  # no reference: rejected
    status, stdout, _ = await _import(namespace, str(rejected), "--out", str(out))
    assert status == 1 and "announced" not in stdout
    # Both runs are over: an event would already be in the queue.
    await asyncio.sleep(0.3)
    assert await dataset_events.get(fail=False) is None
