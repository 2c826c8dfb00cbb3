"""``GET /api/v1/admin/stats/jobs?window=1h``: job counts by type and state over a window."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import utcnow
from conveyor.contracts.monitoring import JobStats
from conveyor.gateway.api._routes import Route, json_response, query_param
from conveyor.gateway.auth import require_observer
from conveyor.gateway.errors import ValidationFailedError
from conveyor.gateway.state import gateway_of
from conveyor.runtime.monitoring.job_stats import WindowError, job_stats, parse_window

DEFAULT_WINDOW = "1h"


async def get_job_stats(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    window = request.query.get("window", DEFAULT_WINDOW)
    try:
        parse_window(window)
    except WindowError as exc:
        raise ValidationFailedError(str(exc), field="window") from None
    stats = await job_stats(gw.store, window=window, now=utcnow())
    return json_response(stats)


ROUTES = [
    Route(
        "GET",
        "/api/v1/admin/stats/jobs",
        get_job_stats,
        summary="Count jobs created in a window by type and current state, in 12 buckets",
        responses={200: JobStats, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse},
        parameters=(
            query_param("window", "e.g. 15m, 1h, 24h, 7d.", type="string", default=DEFAULT_WINDOW),
        ),
    ),
]
