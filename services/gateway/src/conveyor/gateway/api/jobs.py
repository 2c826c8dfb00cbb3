"""Reading and cancelling jobs: ``GET /api/v1/jobs``, ``GET /api/v1/jobs/{job_id}``, cancel."""

from __future__ import annotations

import logging

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import JOB_REQUEST_TYPES
from conveyor.contracts.records import JobPage, JobRecord, JobState
from conveyor.gateway.api._routes import Route, json_response, path_param, query_param
from conveyor.gateway.auth import principal_of
from conveyor.gateway.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationFailedError,
)
from conveyor.gateway.state import Gateway, gateway_of
from conveyor.runtime.broker import BrokerUnavailableError
from conveyor.runtime.jobstore import decode_cursor
from conveyor.runtime.tokens import Principal

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


async def visible_job(gw: Gateway, principal: Principal, job_id: str) -> JobRecord:
    """The job if the principal may see it; another user's job looks exactly like no job."""
    record = await gw.store.get(job_id)
    if record is None or not principal.can_see(record.owner):
        raise NotFoundError(f"no job {job_id!r}")
    return record


async def get_job(request: web.Request) -> web.Response:
    gw = gateway_of(request)
    record = await visible_job(gw, principal_of(request), request.match_info["job_id"])
    return json_response(record)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailedError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit"
        )
    return value


def _owner_filter(principal: Principal, owner: str | None, all_jobs: str | None) -> str | None:
    """Whose jobs to list: ``None`` means everyone's (admins only)."""
    if all_jobs is not None and all_jobs.lower() in ("1", "true", "yes"):
        if not principal.is_admin:
            raise ForbiddenError("only admins may list every user's jobs")
        return None
    if owner is not None and owner != principal.user:
        if not principal.is_admin:
            raise ForbiddenError("only admins may list another user's jobs")
        return owner
    return principal.user


def parse_states(values: list[str]) -> frozenset[JobState]:
    """``state`` given once or more, each one state or several separated by commas."""
    states = set()
    for name in (part.strip() for value in values for part in value.split(",")):
        if not name:
            continue
        try:
            states.add(JobState(name))
        except ValueError:
            allowed = ", ".join(s.value for s in JobState)
            raise ValidationFailedError(f"state must be one of: {allowed}", field="state") from None
    return frozenset(states)


async def list_jobs(request: web.Request) -> web.Response:
    gw = gateway_of(request)
    query = request.query
    owner = _owner_filter(principal_of(request), query.get("owner"), query.get("all"))
    job_type = query.get("type") or None
    if job_type is not None and job_type not in JOB_REQUEST_TYPES:
        raise ValidationFailedError(f"no job type {job_type!r}", field="type")
    states = parse_states(query.getall("state", []))
    cursor = query.get("cursor") or None
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as exc:
            raise ValidationFailedError(str(exc), field="cursor") from None
    page = await gw.store.list_jobs(
        owner=owner,
        job_type=job_type,
        state=states or None,
        limit=_limit(query.get("limit")),
        cursor=cursor,
    )
    return json_response(page)


async def cancel_job(request: web.Request) -> web.Response:
    gw = gateway_of(request)
    principal = principal_of(request)
    record = await visible_job(gw, principal, request.match_info["job_id"])
    try:
        outcome = await gw.lifecycle.cancel(
            record.job_id, record.owner, record.job_type, reason=f"cancelled by {principal.user}"
        )
    except BrokerUnavailableError as exc:
        # The cancel is recorded (Redis is the truth); the worker sees the state when it checks
        # between chunks, it just does not hear about it at once.
        log.warning("cancel of job %s not broadcast: %s", record.job_id, exc)
    else:
        if not outcome.ok:
            if outcome.previous_state is None:
                raise NotFoundError(f"no job {record.job_id!r}")
            raise ConflictError(
                f"the job is already {outcome.previous_state} and cannot be cancelled"
            )
    return json_response(await visible_job(gw, principal, record.job_id))


_JOB_ID = path_param("job_id", "The job's id, as returned by the submit call.")

ROUTES = [
    Route(
        "GET",
        "/api/v1/jobs",
        list_jobs,
        summary="List jobs, newest first",
        responses={200: JobPage, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse},
        parameters=(
            query_param(
                "type", "Only jobs of this type.", type="string", enum=sorted(JOB_REQUEST_TYPES)
            ),
            {
                "name": "state",
                "in": "query",
                "description": "Only jobs in these states: repeat the parameter or separate "
                "states with commas (state=queued,running).",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": [s.value for s in JobState]},
                },
                "style": "form",
                "explode": True,
            },
            query_param(
                "limit",
                "Page size.",
                type="integer",
                minimum=1,
                maximum=MAX_LIMIT,
                default=DEFAULT_LIMIT,
            ),
            query_param("cursor", "The next_cursor of the previous page.", type="string"),
            query_param("owner", "Admins: list this user's jobs.", type="string"),
            query_param("all", "Admins: list every user's jobs.", type="boolean"),
        ),
    ),
    Route(
        "GET",
        "/api/v1/jobs/{job_id}",
        get_job,
        summary="Get a job",
        responses={200: JobRecord, 401: ErrorResponse, 404: ErrorResponse},
        parameters=(_JOB_ID,),
    ),
    Route(
        "POST",
        "/api/v1/jobs/{job_id}/cancel",
        cancel_job,
        summary="Cancel a queued, retrying or running job",
        responses={200: JobRecord, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse},
        parameters=(_JOB_ID,),
    ),
]
