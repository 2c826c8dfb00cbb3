"""Queue depth and consumers from passive declares, against the real RabbitMQ."""

from __future__ import annotations

import aio_pika.abc

from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.queue_sampler import QueueSampler
from tests.support.namespace import AMQP_URL


def _gauges(metrics: Metrics, queue: str) -> tuple[float | None, float | None]:
    labels = {"queue": queue}
    return (
        metrics.registry.get_sample_value("conveyor_queue_messages", labels),
        metrics.registry.get_sample_value("conveyor_queue_consumers", labels),
    )


async def test_the_sampler_counts_ready_messages_and_consumers_per_queue(
    module_broker: Broker,
) -> None:
    metrics = Metrics()
    sampler = QueueSampler(module_broker, metrics, min_interval=0)
    topology = module_broker.topology
    await sampler.sample()
    ready_before = _gauges(metrics, "jobs.aggregates")[0]
    for n in range(3):
        await module_broker.publish(topology.jobs, "job.search", b"{}", message_id=str(n))
    channel = await module_broker.open_channel()
    queue = await channel.declare_queue(topology.service_queue("export"), passive=True)

    async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        pass  # prefetch keeps further messages ready in the queue; none are published here

    tag = await queue.consume(ignore)
    try:
        await sampler.sample()
        assert _gauges(metrics, "jobs.aggregates") == ((ready_before or 0) + 3, 0)
        assert _gauges(metrics, "jobs.export") == (0, 1)
        assert _gauges(metrics, "dead-letters") == (0, 0)
    finally:
        await queue.cancel(tag)
        await channel.close()
        await sampler.close()


async def test_a_missing_queue_reads_zero_and_the_others_are_still_sampled(
    module_broker: Broker,
) -> None:
    metrics = Metrics()
    sampler = QueueSampler(module_broker, metrics, min_interval=0)
    topology = module_broker.topology
    channel = await module_broker.open_channel()
    await channel.queue_delete(topology.service_queue("export"))
    await module_broker.publish(topology.jobs, "job.diagnostics", b"{}", message_id="x")
    try:
        await sampler.sample()
        assert _gauges(metrics, "jobs.export") == (0, 0)
        assert _gauges(metrics, "jobs.maintenance")[0] == 1  # sampled after the missing one
    finally:
        await module_broker.declare_topology()  # put the queue back for later tests
        await channel.close()
        await sampler.close()


async def test_sampling_without_rabbitmq_keeps_the_last_values_and_does_not_raise() -> None:
    broker = Broker(AMQP_URL, Topology("never-connected"))
    metrics = Metrics()
    await QueueSampler(broker, metrics, min_interval=0).sample()
    assert _gauges(metrics, "jobs.export") == (None, None)


async def test_samples_closer_than_the_interval_are_served_from_the_last_one(
    module_broker: Broker,
) -> None:
    metrics = Metrics()
    sampler = QueueSampler(module_broker, metrics, min_interval=3600)
    await sampler.sample()
    before = _gauges(metrics, "jobs.aggregates")
    await module_broker.publish(module_broker.topology.jobs, "job.search", b"{}", message_id="y")
    await sampler.sample()
    assert _gauges(metrics, "jobs.aggregates") == before
    await sampler.close()
