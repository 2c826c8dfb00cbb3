"""Each transport fast path against its plain fallback, in one run, rounds interleaved.

In-process, on the local RabbitMQ, one figure per fast path (process CPU µs per message,
user + system, so it hardly moves with the host's load; the median of the rounds):
- confirmed publish: ``Broker.publish`` of a job-sized message, ``--in-flight`` at once;
- events: ``Broker.publish_events`` of a job's three events at a time;
- consume and ack: the worker's consumer and acks (``new_consumer``, ``new_acks``) taking a
  backlog of messages, ``--prefetch`` at a time, each acked from a task of its own.
A fast path stays only if it saves at least 15 % of its fallback's figure (bench/README.md).

    uv run python -m bench.transport [--messages 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench._harness import bench_namespace, print_host_speed
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.transport.amqp_acks import new_acks
from conveyor.runtime.transport.amqp_consume import new_consumer
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.transport.mode import MODES, TransportMode

BODY = b'{"job_id":"0123456789abcdef","request":{"type":"diagnostics","numbers":[1,2]}}' * 4
HEADERS = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def _cpu() -> float:
    return time.process_time()


async def _publishes(broker: Broker, queue: str, messages: int, in_flight: int) -> float:
    jobs = broker.topology.jobs
    window = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with window:
            await broker.publish(jobs, queue, BODY, headers=HEADERS, priority=1)

    started = _cpu()
    await asyncio.gather(*(one(i) for i in range(messages)))
    return (_cpu() - started) / messages


async def _events(broker: Broker, messages: int) -> float:
    # Bound to nothing: the broker drops them, as it does events nobody watches.
    batch = [(f"job.bench.{k}", BODY, HEADERS) for k in ("queued", "started", "succeeded")]
    started = _cpu()
    for _ in range(messages // 3):
        await broker.publish_events(batch)
    return (_cpu() - started) / (messages // 3 * 3)


async def _consume(broker: Broker, queue: str, messages: int, prefetch: int) -> float:
    # The backlog was published beforehand (``_publishes``), to the queue's routing key.
    channel = await broker.open_channel(prefetch=prefetch)
    declared = await channel.declare_queue(queue, durable=True)
    acks = new_acks(broker.transport)
    done = asyncio.Event()
    settled = 0
    tasks: set[asyncio.Task[None]] = set()

    async def settle(delivery: Delivery) -> None:
        nonlocal settled
        await acks.ack(delivery)
        settled += 1
        if settled == messages:
            done.set()

    async def on_message(delivery: Delivery) -> None:
        acks.delivered(delivery)
        task = asyncio.create_task(settle(delivery))  # as the worker does
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    consumer = new_consumer(broker.transport, broker.connection, declared, on_message)
    started = _cpu()
    await consumer.start()
    await asyncio.wait_for(done.wait(), 300)
    cpu = (_cpu() - started) / messages
    await consumer.cancel()
    await channel.close()
    return cpu


async def _round(
    namespace: str, mode: TransportMode, messages: int, in_flight: int, prefetch: int
) -> dict[str, float]:
    broker = Broker(AMQP_URL, Topology(namespace), connection_name=f"bench-{mode}", transport=mode)
    await broker.connect()
    try:
        queue = f"{namespace}.transport.{mode}"
        channel = await broker.open_channel()
        declared = await channel.declare_queue(queue, durable=True)
        await declared.bind(broker.topology.jobs, queue)
        await channel.close()
        publish = await _publishes(broker, queue, messages, in_flight)
        events = await _events(broker, messages)
        consume = await _consume(broker, queue, messages, prefetch)
        return {"confirmed publish": publish, "events": events, "consume and ack": consume}
    finally:
        await broker.close()


async def run(messages: int, rounds: int, in_flight: int, prefetch: int) -> None:
    figures: dict[TransportMode, list[dict[str, float]]] = {mode: [] for mode in MODES}
    async with bench_namespace() as (ns, _):
        for n in range(rounds):
            # Interleaved, and the order alternates: neither mode always runs on a warmer host.
            for mode in MODES if n % 2 == 0 else tuple(reversed(MODES)):
                figures[mode].append(await _round(ns, mode, messages, in_flight, prefetch))
    print(f"messages per round        {messages}, {rounds} rounds per mode (median shown)")
    print("process CPU µs/message    fast      plain     fast saves   (rounds: fast | plain)")

    def median(mode: TransportMode, key: str) -> float:
        return statistics.median(r[key] * 1e6 for r in figures[mode])

    for key in figures["fast"][0]:
        fast, plain = median("fast", key), median("plain", key)
        each = " ".join(f"{r[key] * 1e6:.0f}" for r in figures["fast"])
        each_plain = " ".join(f"{r[key] * 1e6:.0f}" for r in figures["plain"])
        print(
            f"  {key:<22}  {fast:7.1f}   {plain:7.1f}   {1 - fast / plain:6.0%}"
            f"       ({each} | {each_plain})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--prefetch", type=int, default=64)
    args = parser.parse_args()
    print_host_speed()
    asyncio.run(run(args.messages, args.rounds, args.in_flight, args.prefetch))


if __name__ == "__main__":
    main()
