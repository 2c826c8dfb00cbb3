"""A job's result payload: ``GET /api/v1/jobs/{job_id}/result`` (aggregates, search), owner only."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.award_results import AggregatesResult, SearchResult
from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import CachedResult
from conveyor.contracts.records import JobState
from conveyor.gateway.api._routes import Route, path_param
from conveyor.gateway.api.owner_only import owned_record
from conveyor.gateway.errors import ConflictError, NotFoundError
from conveyor.gateway.state import gateway_of


async def job_result(request: web.Request) -> web.Response:
    record = await owned_record(request)  # results hold the owner's query over shared data
    job_id = record.job_id
    if record.state != JobState.SUCCEEDED:
        raise ConflictError(f"job {job_id!r} is {record.state}, not succeeded: no result yet")
    if not isinstance(record.result, CachedResult):
        raise NotFoundError(f"job {job_id!r} has no result payload")
    body = await gateway_of(request).redis.get(record.result.key)
    if body is None:
        raise NotFoundError(
            f"the result of job {job_id!r} has expired or its dataset changed; submit it again"
        )
    # Stored already encoded by the worker: passed through without decoding.
    return web.Response(
        body=body, content_type="application/json", headers={"Cache-Control": "private, no-store"}
    )


ROUTES = [
    Route(
        "GET",
        "/api/v1/jobs/{job_id}/result",
        job_result,
        summary="A finished job's result payload (aggregates or search; its owner only)",
        responses={
            # By the job's type: an aggregates job's AggregatesResult, a search's SearchResult.
            200: (AggregatesResult, SearchResult),
            401: ErrorResponse,
            404: ErrorResponse,
            409: ErrorResponse,
        },
        parameters=(path_param("job_id", "The job's id, as returned by the submit call."),),
    ),
]
