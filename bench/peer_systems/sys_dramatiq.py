"""Dramatiq with RabbitmqBroker (pika) + Results middleware on a Redis backend.

Copied from the peers' harness (../shared/peers/queue-bench/sys_dramatiq.py).

Worker: `dramatiq sys_dramatiq --processes 1 --threads 8` (dramatiq's default
thread count; one worker process, plus dramatiq's supervisor parent).
Defaults kept: durable queue, persistent messages, confirm_delivery=False.
"""

import contextlib
import sys

import dramatiq
import redis
from common import AMQP_URL, redis_url
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

NAME = "dramatiq"
QUEUE = "qb_dramatiq"

backend = RedisBackend(url=redis_url("dramatiq"))
broker = RabbitmqBroker(url=AMQP_URL)
broker.add_middleware(Results(backend=backend))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, store_results=True)
def noop():
    return None


THREADS = {"default": 8, "t16": 16}


def worker_cmd(variant):
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "sys_dramatiq",
        "--processes",
        "1",
        "--threads",
        str(THREADS[variant]),
    ]


class Client:
    def __init__(self, variant):
        self.variant = variant

    def describe(self):
        return (
            f"dramatiq {dramatiq.__version__}, --processes 1 "
            f"--threads {THREADS[self.variant]}, "
            "Results(RedisBackend), store_results=True; producer: sequential send(), "
            "no confirms (default)"
        )

    async def setup(self):
        self.r = redis.Redis.from_url(redis_url("dramatiq"))

    async def enqueue(self, n):
        for _ in range(n):
            noop.send()

    async def done_count(self):
        return self.r.dbsize()

    async def roundtrip(self):
        noop.send().get_result(block=True, timeout=10000)

    async def reset(self):
        with contextlib.suppress(Exception):
            broker.flush(QUEUE)
        self.r.flushdb()

    async def close(self):
        self.r.close()
        broker.close()
