"""Error codes shared by the HTTP API, job records and job events."""

from __future__ import annotations

import enum

from conveyor.contracts._base import Message


class ErrorCode(enum.StrEnum):
    """Machine-readable error codes. Stable: clients switch on them."""

    INVALID_REQUEST = "invalid_request"
    """The request body or a parameter failed validation; ``field`` names the culprit."""
    UNKNOWN_JOB_TYPE = "unknown_job_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NO_STATISTICS = "no_statistics"
    """No daily statistics are cached for the day asked for (not computed, or expired)."""
    CONFLICT = "conflict"
    """E.g. an Idempotency-Key reused with a different body, or cancelling a finished job."""
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    BROKER_UNAVAILABLE = "broker_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    HANDLER_ERROR = "handler_error"
    """The job's handler raised; the message says what."""
    REJECTED = "rejected"
    """The handler rejected the job as impossible to run (no retry)."""
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    CRASHED_TOO_OFTEN = "crashed_too_often"
    """The job's worker process died during too many deliveries of it."""
    UNDECODABLE_MESSAGE = "undecodable_message"
    PUBLISHER_NOT_ALLOWED = "publisher_not_allowed"
    """The broker user that published the job may not submit jobs for its owner."""
    EXPORT_TOO_LARGE = "export_too_large"
    """The export's filters match more rows than one export may hold."""
    EXPORT_QUOTA_EXCEEDED = "export_quota_exceeded"
    """The owner already keeps as many export bytes as the quota allows."""
    JOB_ID_IN_USE = "job_id_in_use"
    """A published envelope reused the id of another job (dead-lettered, never run)."""
    WORKER_SHUTDOWN = "worker_shutdown"
    INTERNAL = "internal"


class JobError(Message, kw_only=True):
    """Why a job attempt failed."""

    code: ErrorCode
    message: str
    field: str | None = None
    """For ``invalid_request``: the JSON path of the offending field."""


class ErrorResponse(Message, kw_only=True):
    """Body of every non-2xx HTTP response."""

    error: JobError
