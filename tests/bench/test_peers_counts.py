"""The counting pass's readers against the real RabbitMQ and Redis (the shared ones here).

The shared servers' counters also move with everyone else's work, so a delta is at least
what this test did, never exactly it; ``bench.peers`` reads them on private nodes.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bench._peers_counts import RABBIT_COUNTERS, Counters
from conveyor.runtime.broker import Broker
from tests.support.namespace import REDIS_URL


async def shared_rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_published_message_and_a_redis_command_show_in_the_counts(
    broker: Broker, redis: Redis, namespace: str
) -> None:
    counters = Counters(shared_rabbitmqctl, REDIS_URL, rabbit_pid=None, redis_pid=None)
    try:
        before = await counters.snapshot()
        # Confirmed, so RabbitMQ has counted it before the next snapshot; bound to nothing.
        await broker.publish(broker.topology.events, "peers.counted", b"{}", mandatory=False)
        await redis.set(f"{namespace}:peers-counted", "1")
        after = await counters.snapshot()
    finally:
        await counters.close()
    counts = Counters.per_job(before, after, jobs=1)
    assert set(counts.messages) == set(RABBIT_COUNTERS)
    assert counts.messages["received"] >= 1
    assert counts.messages["dropped unroutable"] >= 1
    assert counts.redis_calls.get("set", 0) >= 1
    assert "info" not in counts.redis_calls  # the snapshots' own INFO is not the system's
