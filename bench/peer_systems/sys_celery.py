"""Celery 5.x, RabbitMQ broker (amqp:// via py-amqp/kombu), Redis result backend.

Copied from the peers' harness (../shared/peers/queue-bench/sys_celery.py).

Variants: default = prefork -c 2 (celery's default pool, sized to the 2 cores);
          threads = --pool threads -c 8 (single process); solo = --pool solo.
Defaults kept: durable queue, persistent messages, no publisher confirms,
prefetch multiplier 4, results stored (ignore_result=False), JSON serializer.
"""

import contextlib
import sys

import celery
import redis
from celery import Celery
from common import AMQP_URL, redis_url

NAME = "celery"
QUEUE = "qb_celery"

app = Celery("qb", broker=AMQP_URL, backend=redis_url("celery"))
app.conf.update(
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="qb.noop")
def noop():
    return None


POOLS = {
    "default": ["-P", "prefork", "-c", "2"],
    "threads": ["-P", "threads", "-c", "8"],
    "solo": ["-P", "solo"],
}


def worker_cmd(variant):
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "sys_celery",
        "worker",
        *POOLS[variant],
        "-Q",
        QUEUE,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]


class Client:
    def __init__(self, variant):
        self.variant = variant

    def describe(self):
        return (
            f"celery {celery.__version__}, worker {' '.join(POOLS[self.variant])}, "
            "prefetch multiplier 4 (default), --without-gossip/mingle/heartbeat; "
            "producer: sequential apply_async (sync), no confirms (default)"
        )

    async def setup(self):
        self.r = redis.Redis.from_url(redis_url("celery"))

    async def enqueue(self, n):
        for _ in range(n):
            noop.apply_async()

    async def done_count(self):
        return self.r.dbsize()

    async def roundtrip(self):
        noop.delay().get(timeout=10)

    async def reset(self):
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(QUEUE)
        self.r.flushdb()

    async def close(self):
        self.r.close()
