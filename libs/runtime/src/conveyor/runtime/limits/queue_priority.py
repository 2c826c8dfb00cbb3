"""The AMQP priority a job is queued at: one owner's backlog queues behind others' jobs.

Queues deliver higher AMQP priorities first. An interactive job beyond the first few its
owner has in flight is queued at bulk priority (its record still says interactive), so a
backlog of one user never stands in front of another user's next interactive job. Together
with the workers' per-owner cap (``conveyor.runtime.worker.fair_share``), which keeps a slot
free for other owners, the other user's job starts about as soon as on an idle system.
"""

from __future__ import annotations

from conveyor.contracts.jobs import Priority


def queue_priority(priority: Priority, in_flight: int, interactive_in_flight: int) -> int:
    """The AMQP priority of a job that makes its owner's ``in_flight``-th job in flight."""
    if priority is Priority.INTERACTIVE and in_flight > interactive_in_flight:
        return Priority.BULK.amqp_priority
    return priority.amqp_priority
