"""The dead-letter queue: list (non-destructive), replay some or all, purge."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.monitoring import (
    DeadLetterPage,
    PurgeResult,
    ReplayDeadLetters,
    ReplayResult,
)
from conveyor.gateway.api._routes import Route, json_response, query_param
from conveyor.gateway.api.admin._broker_errors import broker_required
from conveyor.gateway.api.bodies import decode_body
from conveyor.gateway.api.submit import read_json_body
from conveyor.gateway.auth import require_admin, require_observer
from conveyor.gateway.errors import ValidationFailedError
from conveyor.gateway.state import gateway_of
from conveyor.runtime.monitoring.dead_letters import (
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letters,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    value = int(raw) if raw.isdigit() else 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailedError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit"
        )
    return value


async def get_dead_letters(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    limit = _limit(request.query.get("limit"))
    with broker_required(gw):
        letters, total = await list_dead_letters(gw.broker, limit=limit)
    return json_response(DeadLetterPage(dead_letters=letters, total=total))


async def replay(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    body = decode_body(await read_json_body(request, gw.settings.max_body_bytes), ReplayDeadLetters)
    if body.all and body.ids:
        raise ValidationFailedError("give either ids or all, not both", field="$.all")
    if not body.all and not body.ids:
        raise ValidationFailedError(
            'name the dead letters to replay ({"ids": [...]}) or {"all": true}', field="$.ids"
        )
    with broker_required(gw):
        result = await replay_dead_letters(gw.broker, gw.lifecycle, None if body.all else body.ids)
    return json_response(result)


async def purge(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    with broker_required(gw):
        purged = await purge_dead_letters(gw.broker)
    return json_response(PurgeResult(purged=purged))


_ERRORS = {401: ErrorResponse, 403: ErrorResponse, 503: ErrorResponse}

ROUTES = [
    Route(
        "GET",
        "/api/v1/admin/dead-letters",
        get_dead_letters,
        summary="List dead letters with their reason and a payload preview (oldest first)",
        responses={200: DeadLetterPage, 400: ErrorResponse, **_ERRORS},
        parameters=(
            query_param(
                "limit",
                "How many to show.",
                type="integer",
                minimum=1,
                maximum=MAX_LIMIT,
                default=DEFAULT_LIMIT,
            ),
        ),
    ),
    Route(
        "POST",
        "/api/v1/admin/dead-letters/replay",
        replay,
        summary="Replay dead letters to the jobs exchange as attempt 1 (body: ids or all)",
        responses={200: ReplayResult, 400: ErrorResponse, **_ERRORS},
        request_body=ReplayDeadLetters,
    ),
    Route(
        "DELETE",
        "/api/v1/admin/dead-letters",
        purge,
        summary="Purge the dead-letter queue",
        responses={200: PurgeResult, **_ERRORS},
    ),
]
