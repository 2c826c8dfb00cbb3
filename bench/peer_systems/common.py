"""Settings shared by the peers' systems: one queue each in the ``qbench`` vhost, one Redis DB.

Copied from the peers' harness (../shared/peers/queue-bench/common.py) with its figures'
definitions; ``QB_AMQP`` and ``QB_REDIS`` point it elsewhere (``bench.peers`` does so for the
counting pass on private nodes).
"""

import asyncio
import os

AMQP_URL = os.environ.get("QB_AMQP", "amqp://guest:guest@127.0.0.1:5672/qbench")
REDIS_BASE = os.environ.get("QB_REDIS", "redis://127.0.0.1:6379")

# One Redis DB per system: FLUSHDB (the runners' reset) only ever touches these.
DB = {"raw": 10, "celery": 11, "dramatiq": 15}


def redis_url(system: str) -> str:
    return f"{REDIS_BASE}/{DB[system]}"


PUBLISH_WINDOW = int(os.environ.get("QB_WINDOW", "500"))


async def windowed(factory, n: int, window: int = PUBLISH_WINDOW):
    """Run ``factory()`` n times with at most ``window`` in flight (chunks)."""
    i = 0
    while i < n:
        k = min(window, n - i)
        await asyncio.gather(*(factory() for _ in range(k)))
        i += k
