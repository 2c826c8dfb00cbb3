"""Raw aio-pika baseline: msgspec (msgpack) messages, durable queue, persistent

Copied from the peers' harness (../shared/peers/queue-bench/sys_raw.py).
delivery, publisher confirms; consumer with manual ack + prefetch; completion
record = HSET job:<id> {state, finished} (+ PUBLISH job id on a Redis channel
so a client can await completion without polling), in ONE pipeline round trip.

Variants (names combine): default | uvloop | batched | batched-uvloop | pN (prefetch)
  unbatched: each message -> its own pipeline(HSET, PUBLISH).execute() -> ack
  batched:   a single flusher task drains what has arrived (<=500), writes all
             HSET/PUBLISH in one pipeline, then acks the highest tag multiple=True.
"""

import asyncio
import os
import re
import sys
import time
import uuid

import aio_pika
import msgspec
import redis.asyncio as aioredis
from common import AMQP_URL, redis_url, windowed

NAME = "raw-aio-pika"
QUEUE = "qb_raw"
CHANNEL = "qb_raw:done"
CLIENT_UVLOOP = True


class Job(msgspec.Struct):
    id: str
    name: str
    args: list
    created: float


ENC = msgspec.msgpack.Encoder()
DEC = msgspec.msgpack.Decoder(Job)


def _prefetch(variant):
    m = re.search(r"p(\d+)", variant)
    return int(m.group(1)) if m else 200


def worker_cmd(variant):
    return [sys.executable, "-m", "sys_raw", "worker", variant]


async def noop():
    return None


async def worker_main(variant):
    prefetch = _prefetch(variant)
    batched = "batched" in variant
    r = aioredis.Redis.from_url(redis_url("raw"))
    conn = await aio_pika.connect_robust(AMQP_URL)
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=prefetch)
    q = await ch.declare_queue(QUEUE, durable=True)

    if not batched:

        async def on_msg(msg: aio_pika.abc.AbstractIncomingMessage):
            job = DEC.decode(msg.body)
            await noop(*job.args)
            p = r.pipeline(transaction=False)
            p.hset(f"job:{job.id}", mapping={"state": "done", "finished": time.time()})
            p.publish(CHANNEL, job.id)
            await p.execute()
            await msg.ack()
    else:
        pending: asyncio.Queue = asyncio.Queue()

        async def on_msg(msg):
            job = DEC.decode(msg.body)
            await noop(*job.args)
            pending.put_nowait((job, msg))

        async def flusher():
            while True:
                batch = [await pending.get()]
                while len(batch) < 500 and not pending.empty():
                    batch.append(pending.get_nowait())
                p = r.pipeline(transaction=False)
                now = time.time()
                for job, _ in batch:
                    p.hset(f"job:{job.id}", mapping={"state": "done", "finished": now})
                    p.publish(CHANNEL, job.id)
                await p.execute()
                # deliveries arrive in tag order and there is one flusher, so every
                # tag <= the last one is either in this batch or already acked
                last = max(batch, key=lambda x: x[1].delivery_tag)[1]
                await last.ack(multiple=True)

        asyncio.get_running_loop().create_task(flusher())

    await q.consume(on_msg, no_ack=False)
    await asyncio.Future()


class Client:
    def __init__(self, variant):
        self.variant = variant

    def describe(self):
        return (
            f"aio-pika {aio_pika.__version__}, 1 process, prefetch {_prefetch(self.variant)}, "
            f"{'batched' if 'batched' in self.variant else 'per-message'} Redis pipeline, "
            f"loop={'uvloop' if 'uvloop' in self.variant else 'asyncio'}; publisher confirms, "
            "persistent, durable classic queue, "
            f"{os.environ.get('QB_WINDOW', '500')} publishes in flight"
        )

    async def setup(self):
        self.r = aioredis.Redis.from_url(redis_url("raw"))
        self.conn = await aio_pika.connect_robust(AMQP_URL)
        self.ch = await self.conn.channel(publisher_confirms=True)
        self.q = await self.ch.declare_queue(QUEUE, durable=True)
        self.waiters = {}
        self.ps = self.r.pubsub()
        await self.ps.subscribe(CHANNEL)
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for m in self.ps.listen():
            if m["type"] != "message":
                continue
            fut = self.waiters.pop(m["data"].decode(), None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def _publish(self, jid=None):
        jid = jid or uuid.uuid4().hex
        body = ENC.encode(Job(id=jid, name="noop", args=[], created=time.time()))
        await self.ch.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=jid),
            routing_key=QUEUE,
        )

    async def enqueue(self, n):
        await windowed(self._publish, n)

    async def done_count(self):
        return await self.r.dbsize()

    async def roundtrip(self):
        jid = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self.waiters[jid] = fut
        await self._publish(jid)
        await asyncio.wait_for(fut, 10)

    async def reset(self):
        await self.q.purge()
        await self.r.flushdb()

    async def close(self):
        self.reader.cancel()
        await self.ps.aclose()
        await self.r.aclose()
        await self.conn.close()


if __name__ == "__main__" and sys.argv[1] == "worker":
    v = sys.argv[2]
    if "uvloop" in v:
        import uvloop

        uvloop.run(worker_main(v))
    else:
        asyncio.run(worker_main(v))
