"""A throwaway namespace per run: its own exchanges, queues and Redis keys, removed after."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import aio_pika
from aiormq.exceptions import ChannelLockedResource
from redis.asyncio import Redis

AMQP_URL = os.environ.get("CONVEYOR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("CONVEYOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def new_namespace(prefix: str) -> str:
    """``<prefix>-<hex>``: the prefix tells whose run left a namespace behind (test, bench)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def base_environ(namespace: str, **extra: str) -> dict[str, str]:
    """Environment for a service process of the run: none of this process's ``CONVEYOR_*`` or
    ``OTEL_*`` variables, the namespace and local servers, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "OTEL_"))}
    env.update(
        CONVEYOR_NAMESPACE=namespace,
        CONVEYOR_AMQP_URL=AMQP_URL,
        CONVEYOR_REDIS_URL=REDIS_URL,
        CONVEYOR_LOG_FORMAT="text",
        # Tests and benchmarks use the development secret and the diagnostics job's test hooks.
        CONVEYOR_ENV="development",
        CONVEYOR_TEST_HOOKS="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def delete_redis_keys(namespace: str) -> int:
    redis = Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        async for key in redis.scan_iter(match=f"{namespace}:*", count=1000):
            deleted += await redis.delete(key)
    finally:
        await redis.aclose()
    return deleted


def _rabbit_names(kind: str, namespace: str) -> list[str]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", f"list_{kind}", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith(f"{namespace}.")]


async def delete_rabbit_entities(namespace: str) -> None:
    queues, exchanges = await asyncio.gather(
        asyncio.to_thread(_rabbit_names, "queues", namespace),
        asyncio.to_thread(_rabbit_names, "exchanges", namespace),
    )
    connection = await aio_pika.connect(AMQP_URL)
    try:
        for name in queues:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except ChannelLockedResource:
                continue  # another connection's exclusive queue: it goes when that one closes
            await channel.close()
        for name in exchanges:
            channel = await connection.channel()
            await channel.exchange_delete(name)
            await channel.close()
    finally:
        await connection.close()
