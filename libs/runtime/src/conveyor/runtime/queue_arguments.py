"""The arguments of Conveyor's durable queues, by queue type: declared alike wherever a
queue is declared (RabbitMQ refuses a redeclaration with other arguments)."""

from __future__ import annotations

from typing import Any

from conveyor.contracts.jobs import MAX_AMQP_PRIORITY
from conveyor.contracts.topology import QueueType


def service_queue_arguments(queue_type: QueueType = "classic") -> dict[str, Any]:
    """Arguments of every service job queue (they must match wherever it is declared).

    Quorum queues have no ``x-max-priority``: quorum mode has a queue per priority lane.
    No ``x-delivery-limit`` either: the broker would drop or dead-letter a message redelivered
    by broker blips and drains, which are not crashes; the job store counts real ones.
    """
    if queue_type == "quorum":
        return durable_queue_arguments(queue_type)
    return {"x-max-priority": MAX_AMQP_PRIORITY}


def durable_queue_arguments(queue_type: QueueType) -> dict[str, Any]:
    """Arguments of the other durable queues (dead letters, parked jobs)."""
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else {}


def delay_queue_arguments(queue_type: QueueType) -> dict[str, Any]:
    """A delay queue's type; a quorum one dead-letters at least once (its expired messages
    stay until the ``jobs`` exchange confirms them, which needs ``reject-publish``)."""
    if queue_type == "classic":
        return {}
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
