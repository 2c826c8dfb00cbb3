"""The one rule that decides whether a live WebSocket event is delivered, skipped or caught up."""

from __future__ import annotations

import pytest

from conveyor.gateway.ws.delivery_rules import Delivery, decide, decide_job

DELIVER, SKIP, CATCH_UP = Delivery.DELIVER, Delivery.SKIP, Delivery.CATCH_UP


@pytest.mark.parametrize(
    ("last_seq", "seq", "caught_up", "expected"),
    [
        # Before any catch-up: the direct successor goes out, anything older is a duplicate,
        # anything further on leaves a gap.
        (0, 1, False, DELIVER),
        (2, 3, False, DELIVER),
        (3, 3, False, SKIP),
        (3, 1, False, SKIP),
        (0, 0, False, SKIP),
        (2, 4, False, CATCH_UP),
        (0, 9, False, CATCH_UP),
        # After the catch-up: history may have delivered it (skip) or stopped short (deliver,
        # the gap stays: Redis had nothing more).
        (4, 4, True, SKIP),
        (5, 4, True, SKIP),
        (3, 4, True, DELIVER),
        (2, 4, True, DELIVER),
    ],
)
def test_a_job_event_is_delivered_skipped_or_caught_up_by_its_seq(
    last_seq: int, seq: int, caught_up: bool, expected: Delivery
) -> None:
    assert decide_job(last_seq, seq, caught_up=caught_up) is expected


MARK = (1000, 5)


@pytest.mark.parametrize(
    ("position", "previous", "caught_up", "expected"),
    [
        # Placed, directly after the mark (or after something before it): deliver.
        ((1000, 6), (1000, 5), False, DELIVER),
        ((1001, 0), (1000, 5), False, DELIVER),
        ((1000, 6), (999, 0), False, DELIVER),
        # At or below the mark: a duplicate.
        ((1000, 5), (1000, 4), False, SKIP),
        ((999, 9), (999, 8), False, SKIP),
        ((1000, 5), None, False, SKIP),
        # Events of other jobs came between the mark and it, or its predecessor is unknown.
        ((1000, 8), (1000, 7), False, CATCH_UP),
        ((1002, 0), (1001, 3), False, CATCH_UP),
        ((1000, 6), None, False, CATCH_UP),
        # No cursor: only Redis can place it, and it is never sent live.
        (None, None, False, CATCH_UP),
        (None, (1000, 5), False, CATCH_UP),
        (None, None, True, SKIP),
        # After the catch-up: above the mark still goes out, at or below it was in history.
        ((1000, 8), (1000, 7), True, DELIVER),
        ((1000, 6), None, True, DELIVER),
        ((1000, 5), (1000, 4), True, SKIP),
    ],
)
def test_an_owner_stream_event_is_delivered_skipped_or_caught_up_by_its_position(
    position: tuple[int, int] | None,
    previous: tuple[int, int] | None,
    caught_up: bool,
    expected: Delivery,
) -> None:
    assert decide(MARK, position, previous, caught_up=caught_up) is expected


def test_asking_again_after_a_catch_up_never_asks_for_another() -> None:
    for mark in range(4):
        for seq in range(6):
            assert decide_job(mark, seq, caught_up=True) is not CATCH_UP
