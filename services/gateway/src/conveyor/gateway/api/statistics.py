"""``GET /api/v1/statistics/daily``: the cached daily statistics, for any signed-in user.

The numbers describe the public awards dataset, so no role is needed beyond a valid token.
Without parameters the answer is the newest computed day; ``date=`` asks for one day;
``from=`` and ``to=`` for a range of at most ``MAX_STATISTICS_RANGE_DAYS`` days.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from aiohttp import web

from conveyor.contracts.errors import ErrorCode, ErrorResponse
from conveyor.contracts.statistics import (
    MAX_STATISTICS_RANGE_DAYS,
    DailyStatistics,
    DailyStatisticsRange,
)
from conveyor.gateway.api._routes import Route, json_response, query_param
from conveyor.gateway.errors import NotFoundError, ValidationFailedError
from conveyor.gateway.state import gateway_of
from conveyor.runtime.statistics_store import StatisticsStore

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(query: Mapping[str, str], name: str) -> dt.date | None:
    """The ``YYYY-MM-DD`` query parameter ``name``; a 400 naming it when it is not a date."""
    value = query.get(name)
    if value is None:
        return None
    try:
        # fromisoformat alone would also take 20240131 or 2024-W05-3.
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailedError(f"{value!r} is not a date (YYYY-MM-DD)", field=name) from None


def _not_found(message: str) -> NotFoundError:
    return NotFoundError(message, code=ErrorCode.NO_STATISTICS)


async def get_daily_statistics(request: web.Request) -> web.Response:
    query = request.query
    day, start, end = parse_day(query, "date"), parse_day(query, "from"), parse_day(query, "to")
    gw = gateway_of(request)
    store = StatisticsStore(gw.redis, gw.store.keys)
    if day is not None:
        if start is not None or end is not None:
            raise ValidationFailedError("give either date or from and to, not both", field="date")
        stats = await store.day(day)
        if stats is None:
            raise _not_found(f"no daily statistics are cached for {day.isoformat()}")
        return json_response(stats)
    if start is None and end is None:
        stats = await store.latest()
        if stats is None:
            raise _not_found("no daily statistics have been computed yet")
        return json_response(stats)
    if start is None:
        raise ValidationFailedError("a range needs from as well as to", field="from")
    if end is None:
        raise ValidationFailedError("a range needs to as well as from", field="to")
    if end < start:
        raise ValidationFailedError("to is before from", field="to")
    if (end - start).days + 1 > MAX_STATISTICS_RANGE_DAYS:
        raise ValidationFailedError(
            f"a range spans at most {MAX_STATISTICS_RANGE_DAYS} days", field="to"
        )
    days = await store.days(start, end)
    return json_response(
        DailyStatisticsRange(
            start=start,
            end=end,
            days=[stats for _, stats in days if stats is not None],
            missing=[d for d, stats in days if stats is None],
        )
    )


_DAY = {"type": "string", "format": "date"}

ROUTES = [
    Route(
        "GET",
        "/api/v1/statistics/daily",
        get_daily_statistics,
        summary=(
            "The cached daily statistics of the awards dataset (any signed-in user): the newest"
            f" day, one day (date), or a range of up to {MAX_STATISTICS_RANGE_DAYS} days"
            " (from, to; days with none are listed as missing)"
        ),
        responses={
            # DailyStatistics for the newest day or ?date=, DailyStatisticsRange for ?from=&to=.
            200: (DailyStatistics, DailyStatisticsRange),
            400: ErrorResponse,
            401: ErrorResponse,
            404: ErrorResponse,
        },
        parameters=(
            query_param(
                "date", "One day (YYYY-MM-DD); 404 no_statistics if none is cached.", **_DAY
            ),
            query_param("from", "First day of a range (YYYY-MM-DD), with to.", **_DAY),
            query_param(
                "to",
                f"Last day of a range (YYYY-MM-DD), at most {MAX_STATISTICS_RANGE_DAYS - 1}"
                " days after from.",
                **_DAY,
            ),
        ),
    ),
]
