"""Who may publish jobs for whom: the validated ``user_id`` against the publisher mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aiormq.exceptions import ChannelPreconditionFailed
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import FINAL_STATES, JobState
from conveyor.contracts.topology import HEADER_ERROR_CODE, HEADER_REASON, job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from tests.support.dead_letters import dead_letters_for
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, wait_for_state
from tests.support.namespace import AMQP_URL
from tests.support.services import ServiceProcess, running_worker


@pytest.fixture(scope="module")
async def worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    # The tests' broker user (guest) may submit for alice only.
    async with running_worker(
        MAINTENANCE,
        module_namespace,
        redis,
        CONVEYOR_PUBLISHER_OWNERS="guest=alice",
        **FAST_WORKER_ENV,
    ) as service:
        yield service


async def _publish(broker: Broker, owner: str, *, user_id: str | None) -> JobEnvelope:
    """Publish a job as an outside service would, with aio-pika and no Conveyor code."""
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[1]), owner=owner)
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(broker.topology.jobs, ensure=False)
        message = aio_pika.Message(
            encode(envelope),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.job_id,
            user_id=user_id,
        )
        await exchange.publish(message, routing_key=job_routing_key("diagnostics"))
    return envelope


async def _dead_letter(broker: Broker, job_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    async with asyncio.timeout(15):
        while not (found := await dead_letters_for(broker, job_id)):
            await asyncio.sleep(0.05)
    return found[0]


async def test_a_mapped_publisher_submits_for_its_owners(
    worker: ServiceProcess, module_broker: Broker, module_store: JobStore
) -> None:
    envelope = await _publish(module_broker, "alice", user_id="guest")
    record = await wait_for_state(module_store, envelope.job_id, FINAL_STATES)
    assert record.state == JobState.SUCCEEDED


async def test_a_job_for_an_owner_outside_the_mapping_is_dead_lettered_with_the_reason(
    worker: ServiceProcess, module_broker: Broker, module_store: JobStore
) -> None:
    envelope = await _publish(module_broker, "mallory", user_id="guest")
    dead = await _dead_letter(module_broker, envelope.job_id)
    assert dead.headers[HEADER_ERROR_CODE] == "publisher_not_allowed"
    reason = str(dead.headers[HEADER_REASON])
    assert "'guest' may not submit jobs for owner 'mallory'" in reason
    assert await module_store.get(envelope.job_id) is None, "no record in mallory's name"


async def test_a_job_without_user_id_is_dead_lettered_as_from_an_unknown_publisher(
    worker: ServiceProcess, module_broker: Broker
) -> None:
    envelope = await _publish(module_broker, "alice", user_id=None)
    dead = await _dead_letter(module_broker, envelope.job_id)
    assert dead.headers[HEADER_ERROR_CODE] == "publisher_not_allowed"
    assert "no user_id" in str(dead.headers[HEADER_REASON])


async def test_rabbitmq_refuses_a_user_id_other_than_the_connections_user(
    module_broker: Broker,
) -> None:
    # What the mapping relies on: a publisher cannot claim another broker user.
    with pytest.raises(ChannelPreconditionFailed, match="user_id"):
        await _publish(module_broker, "alice", user_id="gateway")
