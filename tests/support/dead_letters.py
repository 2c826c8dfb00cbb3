"""Reading a test namespace's dead-letter queue."""

from __future__ import annotations

import aio_pika

from conveyor.runtime.broker import Broker


async def dead_letters_for(
    broker: Broker, job_id: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take this job's messages out of the dead-letter queue (others are put back)."""
    channel = await broker.open_channel()
    queue = await channel.get_queue(broker.topology.dead_letter_queue, ensure=False)
    found, others = [], []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        (found if message.message_id == job_id else others).append(message)
    for message in found:
        await message.ack()
    for message in others:
        await message.nack(requeue=True)
    await channel.close()
    return found
