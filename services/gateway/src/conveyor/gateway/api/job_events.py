"""A job's event history over plain HTTP: ``GET /api/v1/jobs/{job_id}/events`` (owner only),
for clients that cannot hold a WebSocket open; the same events, numbered by ``seq``."""

from __future__ import annotations

import msgspec
from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.events import AnyJobEvent
from conveyor.contracts.records import JobEventPage
from conveyor.gateway.api._routes import Route, json_response, path_param, query_param
from conveyor.gateway.api.owner_only import owned_record
from conveyor.gateway.errors import ValidationFailedError
from conveyor.gateway.state import gateway_of

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_decode_events = msgspec.json.Decoder(list[AnyJobEvent]).decode


def _whole_number(raw: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailedError(
            f"{name} must be a whole number from {low} to {high}", field=name
        )
    return value


async def job_events(request: web.Request) -> web.Response:
    query = request.query
    after_seq = _whole_number(query.get("after_seq"), "after_seq", default=0, low=0, high=2**53 - 1)
    limit = _whole_number(query.get("limit"), "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    record = await owned_record(request)  # events carry the owner's results and errors
    # One row more than asked says whether the page is the last one.
    rows = await gateway_of(request).store.events_after(record.job_id, after_seq, limit=limit + 1)
    page = rows[:limit]
    # The bodies are stored as JSON already; one decode of the page checks them against the
    # contracts and gives the response its typed shape.
    events = _decode_events(b"[" + b",".join(body for _, body in page) + b"]")
    return json_response(
        JobEventPage(
            job_id=record.job_id,
            events=events,
            next_after_seq=page[-1][0] if page else after_seq,
            more=len(rows) > limit,
            last_seq=max(record.last_seq, page[-1][0] if page else 0),
        ),
        headers={"Cache-Control": "private, no-store"},
    )


ROUTES = [
    Route(
        "GET",
        "/api/v1/jobs/{job_id}/events",
        job_events,
        summary="A job's recorded events after after_seq, oldest first (its owner only; for "
        "clients without a WebSocket)",
        responses={200: JobEventPage, 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse},
        parameters=(
            path_param("job_id", "The job's id, as returned by the submit call."),
            query_param(
                "after_seq",
                "Only events with a greater seq (0: all that are kept). Pass the previous "
                "page's next_after_seq to read on.",
                type="integer",
                minimum=0,
                default=0,
            ),
            query_param(
                "limit",
                "Most events in the page.",
                type="integer",
                minimum=1,
                maximum=MAX_LIMIT,
                default=DEFAULT_LIMIT,
            ),
        ),
    ),
]
