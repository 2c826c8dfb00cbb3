"""``queue_priority``: a user's backlog beyond the first few jobs in flight queues as bulk."""

from __future__ import annotations

import pytest

from conveyor.contracts.jobs import Priority
from conveyor.runtime.limits.queue_priority import queue_priority

INTERACTIVE, BULK, SCHEDULED = (p.amqp_priority for p in Priority)


@pytest.mark.parametrize(
    ("priority", "in_flight", "expected"),
    [
        (Priority.INTERACTIVE, 1, INTERACTIVE),
        (Priority.INTERACTIVE, 4, INTERACTIVE),
        (Priority.INTERACTIVE, 5, BULK),
        (Priority.INTERACTIVE, 500, BULK),
        (Priority.BULK, 1, BULK),
        (Priority.BULK, 500, BULK),
        (Priority.SCHEDULED, 500, SCHEDULED),
    ],
)
def test_only_interactive_jobs_past_the_threshold_are_lowered(
    priority: Priority, in_flight: int, expected: int
) -> None:
    assert queue_priority(priority, in_flight, interactive_in_flight=4) == expected
