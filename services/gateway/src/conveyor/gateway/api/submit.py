"""``POST /api/v1/jobs/{type}``: validate, deduplicate by Idempotency-Key, publish, answer 202."""

from __future__ import annotations

import hashlib
import logging

import msgspec
from aiohttp import web

from conveyor.contracts.errors import ErrorCode, ErrorResponse
from conveyor.contracts.jobs import JOB_REQUEST_TYPES, JobEnvelope, JobRequest, Priority
from conveyor.contracts.records import JobRecord, JobState
from conveyor.gateway.api._routes import Route, header_param, json_response
from conveyor.gateway.api.bodies import decode_body
from conveyor.gateway.api.submit_permissions import check_may_submit, check_test_hooks
from conveyor.gateway.auth import principal_of
from conveyor.gateway.errors import (
    ConflictError,
    ForbiddenError,
    GatewayError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from conveyor.gateway.limits import TooManyRequestsError
from conveyor.gateway.state import Gateway, gateway_of
from conveyor.runtime.broker import BrokerUnavailableError, PublishUnconfirmedError
from conveyor.runtime.limits import Reservation
from conveyor.runtime.telemetry import current_trace_id
from conveyor.runtime.tokens import Principal

log = logging.getLogger(__name__)

PRIORITY_HEADER = "X-Conveyor-Priority"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_TTL_SECONDS = 86_400
MAX_IDEMPOTENCY_KEY = 200


class UnknownJobTypeError(GatewayError):
    status = 404
    code = ErrorCode.UNKNOWN_JOB_TYPE


def request_type(name: str) -> type[JobRequest]:
    try:
        return JOB_REQUEST_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(JOB_REQUEST_TYPES))
        raise UnknownJobTypeError(f"no job type {name!r}; known types: {known}") from None


async def read_json_body(request: web.Request, limit: int) -> bytes:
    """The body, ``{}`` when empty; 413 over ``limit`` and 415 when it is not JSON."""
    # Checked before reading so a client announcing a huge body is refused at once;
    # client_max_size still guards chunked bodies that announce nothing.
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the body may have at most {limit} bytes")
    body = await request.read()
    if len(body) > limit:
        raise PayloadTooLargeError(f"the body may have at most {limit} bytes")
    if not body.strip():
        return b"{}"
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"the body must be JSON (Content-Type: application/json), not {content_type!r}"
        )
    return body


def decode_request(body: bytes, cls: type[JobRequest]) -> JobRequest:
    # The ``type`` tag is only required inside the union, so the body may omit it; a body
    # that names another type fails validation at ``$.type``.
    return decode_body(body, cls)


def priority_from(header: str | None, principal: Principal) -> Priority:
    if header is None:
        return Priority.INTERACTIVE
    try:
        priority = Priority(header.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise ValidationFailedError(
            f"priority must be one of: {allowed}", field=PRIORITY_HEADER
        ) from None
    if priority is Priority.SCHEDULED and not principal.is_admin:
        raise ForbiddenError("only admins may submit scheduled-priority jobs")
    return priority


def idempotency_key_from(header: str | None) -> str | None:
    if header is None:
        return None
    if not 1 <= len(header) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailedError(
            f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters",
            field=IDEMPOTENCY_HEADER,
        )
    return header


def request_digest(job_type: str, request: JobRequest) -> str:
    """Same type and same decoded request (defaults filled, keys sorted) -> same digest."""
    canonical = msgspec.json.encode(request, order="sorted")
    return hashlib.sha256(job_type.encode() + b"\n" + canonical).hexdigest()


def record_of(envelope: JobEnvelope) -> JobRecord:
    """What the store holds for an envelope this request just recorded as queued."""
    return JobRecord(
        job_id=envelope.job_id,
        job_type=envelope.job_type,
        owner=envelope.owner,
        state=JobState.QUEUED,
        priority=envelope.priority,
        attempt=envelope.attempt,
        max_attempts=envelope.max_attempts,
        created_at=envelope.created_at,
        updated_at=envelope.created_at,
        request=envelope.request,
        last_seq=1,
        idempotency_key=envelope.idempotency_key,
        trace_id=current_trace_id(),
    )


def _accepted(record: JobRecord, *, replayed: bool = False) -> web.Response:
    headers = {"Location": f"/api/v1/jobs/{record.job_id}"}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return json_response(record, status=202, headers=headers)


async def _replay(gw: Gateway, existing_id: str, owner: str) -> web.Response:
    record = await gw.store.get(existing_id)
    if record is None or record.owner != owner:
        # The first request with this key is still being published (or its job expired).
        raise ConflictError(
            "a request with this Idempotency-Key is still in progress; retry shortly",
            field=IDEMPOTENCY_HEADER,
        )
    return _accepted(record, replayed=True)


async def submit_job(request: web.Request) -> web.Response:
    gw = gateway_of(request)
    principal = principal_of(request)
    job_type = request.match_info["type"]
    cls = request_type(job_type)
    check_may_submit(principal, job_type, cls)
    body = await read_json_body(request, gw.settings.max_body_bytes)
    job_request = decode_request(body, cls)
    check_test_hooks(job_request, enabled=gw.settings.test_hooks)
    priority = priority_from(request.headers.get(PRIORITY_HEADER), principal)
    key = idempotency_key_from(request.headers.get(IDEMPOTENCY_HEADER))
    envelope = JobEnvelope(
        request=job_request,  # type: ignore[arg-type]
        owner=principal.user,
        priority=priority,
        max_attempts=gw.settings.max_attempts,
        idempotency_key=key,
    )
    # One Redis call: the key's reservation (a request holding it is replayed), then the limits.
    digest = request_digest(job_type, job_request) if key is not None else ""
    reservation = None if key is None else Reservation(key, digest, IDEMPOTENCY_TTL_SECONDS)
    try:
        admitted = await gw.limits.admit_submission(
            principal, envelope.job_id, priority, reservation
        )
    except TooManyRequestsError as exc:
        # Nothing was queued: a later retry with the key may go ahead. A rate refusal freed
        # the key already.
        if key is not None and exc.limit != "submit_rate":
            await gw.store.release_idempotency_key(principal.user, key, envelope.job_id)
        raise
    if admitted.held_by is not None:
        existing_id, existing_digest = admitted.held_by
        if existing_digest != digest:
            raise ConflictError(
                "this Idempotency-Key was used with a different request",
                field=IDEMPOTENCY_HEADER,
            )
        return await _replay(gw, existing_id, principal.user)
    amqp_priority = admitted.amqp_priority
    # Only a refused publish frees the key (nothing was queued). Any other failure keeps it:
    # if the job was published, its worker creates the record, and a retry with the key then
    # replays that job instead of queueing a duplicate. A publish without a confirm is kept
    # and published again by the lifecycle (a 202); it raises only when Redis could not keep
    # it, and then the key stays too, since the broker may have the job.
    try:
        existing = await gw.lifecycle.submit_or_existing(envelope, amqp_priority=amqp_priority)
    except BrokerUnavailableError as exc:
        log.warning("job %s not accepted: %s", envelope.job_id, exc)
        if key is not None and not isinstance(exc, PublishUnconfirmedError):
            await gw.store.release_idempotency_key(principal.user, key, envelope.job_id)
        await gw.limits.release_submission(principal, envelope.job_id)
        raise ServiceUnavailableError(
            "the message broker cannot take jobs right now",
            code=ErrorCode.BROKER_UNAVAILABLE,
            retry_after=gw.settings.retry_after_seconds,
        ) from None
    gw.metrics.jobs_submitted.labels(job_type).inc()
    # When this request created the record it holds exactly what ``record_of`` builds; only a
    # worker that got there first has moved it on, and then the store gave us its news.
    return _accepted(existing or record_of(envelope))


_ERRORS = {status: ErrorResponse for status in (400, 401, 403, 404, 409, 413, 415, 429, 503)}

ROUTES = [
    Route(
        "POST",
        "/api/v1/jobs/{type}",
        submit_job,
        summary="Submit a job",
        responses={202: JobRecord, **_ERRORS},
        parameters=(
            header_param(
                IDEMPOTENCY_HEADER,
                "Repeating a request with the same key and body returns the same job "
                "(for 24 h); with another body it is a 409.",
                type="string",
                minLength=1,
                maxLength=MAX_IDEMPOTENCY_KEY,
            ),
            header_param(
                PRIORITY_HEADER,
                "interactive (default) or bulk; scheduled for admins only.",
                type="string",
                enum=[p.value for p in Priority],
            ),
        ),
        path_variants=dict(JOB_REQUEST_TYPES),
    )
]
