"""Whether a live event is delivered, skipped or needs a catch-up first: one rule, two paths.

A subscription remembers a mark: the last ``seq`` delivered for a job, the last owner-stream
position delivered for "all my jobs". A live event carries its own position and that of the
event recorded just before it. Against the mark it is a duplicate (skip), the direct
successor (deliver), or it leaves a gap that Redis must fill first (catch up). After the
catch-up the same rule is asked again with ``caught_up=True``: what is still above the mark
is then delivered even if a gap remains, since Redis had nothing more to give.

Both the session's synchronous fast path and its inbox task ask here, so they cannot drift.
"""

from __future__ import annotations

import enum
from typing import TypeVar


class Delivery(enum.Enum):
    """What to do with one live event for one subscription."""

    DELIVER = "deliver"
    """Send it now and move the mark to it."""
    SKIP = "skip"
    """Already delivered (from history, or a redelivery): drop it."""
    CATCH_UP = "catch_up"
    """Events before it are missing or still in flight: read them from Redis, then ask again."""


# Module-level names for the members: the fast path asks once per event and connection, and
# reading an Enum member through its class costs more than the decision itself.
DELIVER, SKIP, CATCH_UP = Delivery.DELIVER, Delivery.SKIP, Delivery.CATCH_UP

Position = TypeVar("Position", int, tuple[int, int])


def decide(
    mark: Position,
    position: Position | None,
    previous: Position | None,
    *,
    caught_up: bool = False,
) -> Delivery:
    """The delivery of an event at ``position`` whose predecessor is at ``previous``.

    ``position`` is None for an event announced without a place (no stream cursor): only Redis
    can place it, so it is caught up and never sent live. ``previous`` is None when the
    predecessor is unknown, which is treated as a gap.
    """
    if position is None:
        return SKIP if caught_up else CATCH_UP
    if position <= mark:
        return SKIP
    if caught_up:
        return DELIVER
    if previous is None or previous > mark:
        return CATCH_UP
    return DELIVER


def decide_job(last_seq: int, seq: int, *, caught_up: bool = False) -> Delivery:
    """``decide`` for a job subscription: a job's events are numbered without holes."""
    return decide(last_seq, seq, seq - 1, caught_up=caught_up)
