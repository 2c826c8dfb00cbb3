"""Pausing a job type: the paused set in Redis and the parked queue its messages wait in.

Several job types share a service queue, so a worker cannot stop consuming just one of them.
Instead it moves a paused type's messages to that type's durable parked queue (publish
confirmed, then ack the original: at-least-once, never lost) and, on resume, they are
republished to the ``jobs`` exchange. While parked they stay visible in the queue listing.
"""

from __future__ import annotations

import logging
from typing import Any

import aio_pika.abc
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.queue_arguments import durable_queue_arguments
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)


async def paused_job_types(redis: Redis, keys: Keys) -> set[str]:
    members: Any = await redis.smembers(keys.paused_job_types)
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


async def set_paused(redis: Redis, keys: Keys, job_type: str, paused: bool) -> None:
    if paused:
        await redis.sadd(keys.paused_job_types, job_type)
    else:
        await redis.srem(keys.paused_job_types, job_type)


async def declare_parked_queue(
    channel: aio_pika.abc.AbstractChannel, broker: Broker, job_type: str
) -> aio_pika.abc.AbstractQueue:
    return await channel.declare_queue(
        broker.topology.parked_queue(job_type),
        durable=True,
        arguments=durable_queue_arguments(broker.topology.queue_type),
    )


class Parking:
    """Moves a worker's messages of paused types into their parked queues."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._declared: set[str] = set()

    async def park(self, job_type: str, message: Delivery) -> None:
        """Copy ``message`` into the parked queue of ``job_type`` (confirmed); caller acks."""
        name = self._broker.topology.parked_queue(job_type)
        if job_type not in self._declared:
            channel = await self._broker.open_channel()
            try:
                await declare_parked_queue(channel, self._broker, job_type)
            finally:
                await channel.close()
            self._declared.add(job_type)
        await self._broker.publish(
            "",
            name,
            message.body,
            headers=dict(message.headers),
            priority=message.priority,
            message_id=message.message_id,
        )


async def release_parked(broker: Broker, job_type: str) -> int:
    """Republish every parked message of ``job_type`` to ``jobs``; returns how many."""
    moved = 0
    channel = await broker.open_channel()
    try:
        queue = await declare_parked_queue(channel, broker, job_type)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await broker.publish(
                broker.topology.jobs,
                job_routing_key(job_type),
                message.body,
                headers=dict(message.headers),
                priority=message.priority,
                message_id=message.message_id,
            )
            await message.ack()
            moved += 1
    finally:
        await channel.close()
    if moved:
        log.info("released %d parked %s job(s)", moved, job_type)
    return moved
