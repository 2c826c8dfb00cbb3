"""Folded job events: several events of one job announced as one message.

A worker holds a job's first events for a short window (``CONVEYOR_EVENT_FOLD_WINDOW``) and
publishes them together with whatever event of the same job comes meanwhile: a job that
finishes within the window costs one event message instead of three. Each folded event keeps
everything it has as a message of its own: its ``seq`` (in the body), its place in the owner's
event stream (``cursor``, ``prev_cursor``); the job's Redis history holds it as before.

The message goes out with the routing key of its last event, so a subscriber bound to one kind
(``job.*.succeeded.#``) receives every final event, but sees a folded message only by the kind
of its last event: the earlier events are inside it. Consumers split it with
``job_events_of`` (or by reading ``events``). Its headers are those of a single event whose
``x-conveyor-cursor`` is the last event's and ``x-conveyor-prev-cursor`` the first event's,
plus ``x-conveyor-folded`` (``HEADER_FOLDED``): the number of events it carries.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from conveyor.contracts._base import Message
from conveyor.contracts.events import AnyJobEvent

MIN_FOLDED = 2
"""A folded message carries at least two events (one goes out as itself)."""


class FoldedJobEvent(Message, kw_only=True):
    """One event of a folded message, with its place in the owner's event stream."""

    cursor: str
    """The event's entry id in its owner's event stream (``x-conveyor-cursor`` of an event
    published alone)."""
    prev_cursor: str
    """The owner-stream entry just before this event's ("0-0" if none)."""
    event: AnyJobEvent


class FoldedJobEvents(Message, tag="job.folded", tag_field="event", kw_only=True):
    """Events of one job announced close together, published as one message, in ``seq`` order.

    Routed by its last event (``job.<owner>.<last kind>.<job_type>``); every event it carries
    is also in the job's history, each with its own ``seq`` and cursor.
    """

    job_id: str
    job_type: str
    owner: str
    events: Annotated[list[FoldedJobEvent], msgspec.Meta(min_length=MIN_FOLDED)]


class FoldedJobEventRaw(Message, kw_only=True):
    """``FoldedJobEvent`` with the event left encoded (as it is recorded and forwarded)."""

    cursor: str
    prev_cursor: str
    event: msgspec.Raw


class FoldedJobEventsRaw(Message, tag="job.folded", tag_field="event", kw_only=True):
    """``FoldedJobEvents`` with each event left encoded: the same JSON, for a publisher that
    holds the recorded bodies and a relay that forwards them unchanged."""

    job_id: str
    job_type: str
    owner: str
    events: Annotated[list[FoldedJobEventRaw], msgspec.Meta(min_length=MIN_FOLDED)]


job_message_decoder = msgspec.json.Decoder(AnyJobEvent | FoldedJobEvents)
"""A message on a ``job.#`` routing key: one job event, or a folded message of several."""


def job_events_of(body: bytes) -> list[AnyJobEvent]:
    """The job events a message carries, in order: itself, or the events folded into it."""
    message = job_message_decoder.decode(body)
    if isinstance(message, FoldedJobEvents):
        return [folded.event for folded in message.events]
    return [message]
