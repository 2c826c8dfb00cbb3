"""``conveyor data import`` run as a real process publishes ``dataset.updated`` to RabbitMQ."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika.abc
import msgspec
import pytest

from conveyor.awards.schema import count_rows, dataset_version, scan_dataset
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import domain_event_routing_key
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
        bindings=(domain_event_routing_key(DatasetUpdated),),
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
    # Both runs are over, and the command publishes with a confirm before it exits: an event
    # would be in the queue already.
    assert await dataset_events.get(fail=False) is None


async def _next_event(queue: aio_pika.abc.AbstractQueue) -> DatasetUpdated:
    message = None
    async with asyncio.timeout(10):
        while message is None:
            message = await queue.get(fail=False)
            await asyncio.sleep(0.02)
    await message.ack()
    return msgspec.json.decode(message.body, type=DatasetUpdated)


async def test_a_reimport_replaces_the_award_and_announces_a_new_version(
    dataset_events: aio_pika.abc.AbstractQueue, namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "awards"
    first = _csv(tmp_path / "first.csv", ["2022-001", "2022-002"])
    assert (await _import(namespace, str(first), "--out", str(out)))[0] == 0
    before = await _next_event(dataset_events)
    correction = tmp_path / "correction.csv"
    correction.write_text(
        "AWARD REFERENCE NO.,Supplier Name,Contract Amount (PHP),Award Date\n"
        "2022-002,Corrected Supplier,99,2022-05-01\n",
        encoding="utf-8",
    )
    status, stdout, stderr = await _import(namespace, str(correction), "--out", str(out))
    assert status == 0, stderr
    assert "1 existing award(s) replaced" in stdout
    after = await _next_event(dataset_events)
    assert after.version != before.version
    assert after.rows == 2 == count_rows(out)
    frame = scan_dataset(out).collect().sort("award_reference_no")
    assert frame.select("award_reference_no", "awardee_name").rows() == [
        ("2022-001", "Santos Builders, Inc."),
        ("2022-002", "Corrected Supplier"),
    ]


async def test_an_unreadable_file_exits_1_while_the_others_are_imported(
    namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "data" / "awards"
    good = _csv(tmp_path / "good.csv", ["2023-001"])
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK but not really")
    status, stdout, stderr = await _import(
        namespace, str(broken), str(good), "--out", str(out), "--no-announce"
    )
    assert status == 1, stderr
    assert "Traceback" not in stderr
    assert f"{broken}: UNREADABLE, nothing imported: not an .xlsx workbook" in stdout
    assert count_rows(out) == 1
    # The rejects file goes beside the dataset unless --rejects names one.
    [rejects] = (tmp_path / "data" / "import-reports").glob("*-rejects.csv")
    with rejects.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][:3] == [str(broken), "", "0"]
    assert f"listed in {rejects}" in stdout


@pytest.mark.parametrize("content", ["", ",".join(HEADERS) + "\n"])
async def test_an_import_of_nothing_exits_1(namespace: str, tmp_path: Path, content: str) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(content, encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    status, stdout, stderr = await _import(
        namespace, str(empty), "--out", str(tmp_path / "awards"), "--rejects", str(rejects)
    )
    assert status == 1, stderr
    assert "0 imported" in stdout
    assert rejects.exists()


async def test_an_out_that_is_a_file_is_a_usage_error(namespace: str, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "awards"
    not_a_dir.write_text("x")
    status, _, stderr = await _import(
        namespace, str(_csv(tmp_path / "a.csv", ["1"])), "--out", str(not_a_dir)
    )
    assert status == 2
    assert "is not a directory" in stderr
