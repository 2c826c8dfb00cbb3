"""Quorum mode (``CONVEYOR_QUEUE_TYPE=quorum``) on the shared broker: priorities from lane
queues, delayed retries, dead letters, parking and crash counting, with worker processes."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator

import msgspec
import pytest
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.control import PauseJobType, ResumeJobType
from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.contracts.topology import (
    HEADER_ERROR_CODE,
    Topology,
    command_routing_key,
    job_routing_key,
)
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.monitoring.pausing import set_paused
from tests.support.dead_letters import dead_letters_for
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.namespace import AMQP_URL
from tests.support.services import ServiceProcess, running_worker, start_worker

QUORUM = {**FAST_WORKER_ENV, "CONVEYOR_QUEUE_TYPE": "quorum"}


@pytest.fixture(scope="module")
async def module_broker(module_namespace: str) -> AsyncIterator[Broker]:
    """This module's broker publishes and declares in quorum mode."""
    broker = Broker(AMQP_URL, Topology(module_namespace, "quorum"), connection_name="tests")
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture(scope="module")
def lifecycle(module_lifecycle: JobLifecycle) -> JobLifecycle:
    return module_lifecycle  # on this module's quorum-mode broker


async def queue_type(broker: Broker, name: str) -> str:
    """The type RabbitMQ reports for queue ``name`` (``quorum`` or ``classic``)."""
    out = await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "list_queues", "name", "type"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    types = dict(line.split("\t") for line in out.stdout.splitlines() if "\t" in line)
    return types.get(name, "missing")


async def publish_command(broker: Broker, command: PauseJobType | ResumeJobType) -> None:
    await broker.publish(
        broker.topology.control,
        command_routing_key(type(command)),
        encode(command),
        persistent=False,
        mandatory=False,
    )


async def test_every_durable_queue_is_a_quorum_queue_with_a_lane_per_priority(
    module_broker: Broker,
) -> None:
    t = module_broker.topology
    names = [name for name, _ in t.job_queues("maintenance")]
    assert names == [
        f"{t.namespace}.jobs.maintenance.{lane}" for lane in ("interactive", "bulk", "scheduled")
    ]
    for name in [*names, t.dead_letter_queue]:
        assert await queue_type(module_broker, name) == "quorum", name


async def test_interactive_jobs_run_ahead_of_bulk_and_bulk_ahead_of_scheduled(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_broker: Broker,
    lifecycle: JobLifecycle,
) -> None:
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_CONCURRENCY="1", **QUORUM
    ):
        # A bulk blocker: an interactive one would take one of its lane's two held deliveries,
        # and a quick interactive job could then end before the broker's next delivery of
        # that lane arrives, handing the slot to a held bulk job (docs/operations.md).
        blocker = await submit_diagnostics(lifecycle, priority=Priority.BULK, sleep_seconds=1.0)
        await wait_for_state(module_store, blocker.job_id, {JobState.RUNNING})
        scheduled = [
            await submit_diagnostics(lifecycle, priority=Priority.SCHEDULED, sleep_seconds=0.1)
            for _ in range(3)
        ]
        bulk = [
            await submit_diagnostics(lifecycle, priority=Priority.BULK, sleep_seconds=0.1)
            for _ in range(3)
        ]
        # Straight to the broker on the documented key with no priority: the bulk lane.
        direct = JobEnvelope(request=DiagnosticsRequest(sleep_seconds=0.1), owner="tester")
        await module_broker.publish(
            module_broker.topology.jobs,
            job_routing_key("diagnostics"),
            msgspec.json.encode(direct),
            message_id=direct.job_id,
        )
        urgent = [
            await submit_diagnostics(lifecycle, priority=Priority.INTERACTIVE) for _ in range(2)
        ]
        everyone = [blocker, *scheduled, *bulk, direct, *urgent]
        for envelope in everyone:
            await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    records = {e.job_id: await module_store.get(e.job_id) for e in everyone}
    started = sorted(records, key=lambda job_id: records[job_id].started_at)  # type: ignore[union-attr,arg-type,return-value]
    assert all(r is not None and r.state is JobState.SUCCEEDED for r in records.values())
    assert started[0] == blocker.job_id
    assert set(started[1:3]) == {e.job_id for e in urgent}
    assert set(started[3:7]) == {e.job_id for e in [*bulk, direct]}
    assert set(started[7:]) == {e.job_id for e in scheduled}


async def test_a_job_that_keeps_crashing_its_worker_fails_as_crashed_too_often(
    module_namespace: str,
    redis: Redis,
    module_store: JobStore,
    module_broker: Broker,
    lifecycle: JobLifecycle,
) -> None:
    env = {**QUORUM, "CONVEYOR_MAX_CRASHES": "2"}
    envelope = await submit_diagnostics(lifecycle, crash_deliveries=100)
    for _ in range(2):
        crashed = await start_worker(MAINTENANCE, module_namespace, redis, **env)
        assert await crashed.wait() == -9  # the job killed it
    async with running_worker(MAINTENANCE, module_namespace, redis, **env):
        record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code is ErrorCode.CRASHED_TOO_OFTEN
    assert "during 2 deliveries" in record.error.message
    assert len(await dead_letters_for(module_broker, envelope.job_id)) == 1


# The tests below share one worker (the ones above run their own, alone on the queues).
@pytest.fixture(scope="module")
async def worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_CONCURRENCY="4", **QUORUM
    ) as service:
        yield service


async def test_a_failing_job_is_retried_through_a_quorum_delay_queue_then_succeeds(
    worker: ServiceProcess,
    module_store: JobStore,
    module_broker: Broker,
    lifecycle: JobLifecycle,
) -> None:
    envelope = await submit_diagnostics(lifecycle, fail_attempts=2, numbers=[2])
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    assert record.state is JobState.SUCCEEDED and record.attempt == 3
    delay = module_broker.topology.delay_queue(300)  # FAST_WORKER_ENV's first backoff
    assert delay.endswith(".quorum")
    assert await queue_type(module_broker, delay) == "quorum"


async def test_a_job_that_always_fails_is_dead_lettered_to_the_quorum_queue(
    worker: ServiceProcess,
    module_store: JobStore,
    module_broker: Broker,
    lifecycle: JobLifecycle,
) -> None:
    envelope = await submit_diagnostics(lifecycle, fail_attempts=100, max_attempts=2)
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES, timeout=30)
    assert record.state is JobState.FAILED
    letters = await dead_letters_for(module_broker, envelope.job_id)
    assert len(letters) == 1
    assert letters[0].headers[HEADER_ERROR_CODE] == record.error.code  # type: ignore[union-attr]


async def test_a_paused_type_is_parked_in_a_quorum_queue_and_runs_once_resumed(
    worker: ServiceProcess,
    module_store: JobStore,
    module_broker: Broker,
    redis: Redis,
    lifecycle: JobLifecycle,
) -> None:
    keys = module_store.keys
    await set_paused(redis, keys, "diagnostics", True)
    await publish_command(module_broker, PauseJobType(job_type="diagnostics"))
    await _until_logged(worker, "job type diagnostics paused")
    envelopes = [
        await submit_diagnostics(lifecycle, priority=p, numbers=[i]) for i, p in enumerate(Priority)
    ]
    await _until_logged(worker, "parked a job of paused type diagnostics", len(envelopes))
    parked = module_broker.topology.parked_queue("diagnostics")
    assert await queue_type(module_broker, parked) == "quorum"
    for envelope in envelopes:
        record = await module_store.get(envelope.job_id)
        assert record is not None and record.state is JobState.QUEUED
    await set_paused(redis, keys, "diagnostics", False)
    await publish_command(module_broker, ResumeJobType(job_type="diagnostics"))
    for i, envelope in enumerate(envelopes):
        record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
        assert record.attempt == 1
        assert record.result is not None and record.result.sum == i  # type: ignore[union-attr]


async def _until_logged(worker: ServiceProcess, text: str, count: int = 1) -> None:
    async with asyncio.timeout(20):
        while (await asyncio.to_thread(worker.output)).count(text) < count:
            await asyncio.sleep(0.05)
