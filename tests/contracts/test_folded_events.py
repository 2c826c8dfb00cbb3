"""The folded message's contract: typed and raw forms are one JSON; consumers split it."""

from __future__ import annotations

import msgspec
import pytest

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import JobProgressed, JobQueued, JobStarted
from conveyor.contracts.folded_events import (
    FoldedJobEvent,
    FoldedJobEventRaw,
    FoldedJobEvents,
    FoldedJobEventsRaw,
    job_events_of,
)

EVENTS = [
    JobQueued(job_id="j", job_type="diagnostics", owner="o", seq=1),
    JobStarted(job_id="j", job_type="diagnostics", owner="o", seq=2, worker="w"),
    JobProgressed(job_id="j", job_type="diagnostics", owner="o", seq=3, done=1),
]
CURSORS = [("1-0", "0-0"), ("5-0", "1-0"), ("6-0", "5-0")]


def test_the_raw_form_encodes_the_same_json_as_the_typed_one() -> None:
    typed = FoldedJobEvents(
        job_id="j",
        job_type="diagnostics",
        owner="o",
        events=[
            FoldedJobEvent(cursor=c, prev_cursor=p, event=e)
            for (c, p), e in zip(CURSORS, EVENTS, strict=True)
        ],
    )
    raw = FoldedJobEventsRaw(
        job_id="j",
        job_type="diagnostics",
        owner="o",
        events=[
            FoldedJobEventRaw(cursor=c, prev_cursor=p, event=msgspec.Raw(encode(e)))
            for (c, p), e in zip(CURSORS, EVENTS, strict=True)
        ],
    )
    assert encode(typed) == encode(raw)
    assert msgspec.json.decode(encode(raw), type=FoldedJobEvents) == typed
    assert encode(raw).startswith(b'{"event":"job.folded"')


def test_a_consumer_gets_the_events_of_either_kind_of_message_in_order() -> None:
    folded = FoldedJobEventsRaw(
        job_id="j",
        job_type="diagnostics",
        owner="o",
        events=[
            FoldedJobEventRaw(cursor=c, prev_cursor=p, event=msgspec.Raw(encode(e)))
            for (c, p), e in zip(CURSORS, EVENTS, strict=True)
        ],
    )
    assert job_events_of(encode(folded)) == EVENTS
    assert job_events_of(encode(EVENTS[0])) == EVENTS[:1]


def test_a_folded_message_carries_at_least_two_events() -> None:
    one = FoldedJobEventsRaw(
        job_id="j",
        job_type="diagnostics",
        owner="o",
        events=[
            FoldedJobEventRaw(cursor="1-0", prev_cursor="0-0", event=msgspec.Raw(encode(EVENTS[0])))
        ],
    )
    with pytest.raises(msgspec.ValidationError, match="length >= 2"):
        job_events_of(encode(one))
