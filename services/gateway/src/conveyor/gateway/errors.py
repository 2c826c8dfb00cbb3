"""Gateway errors and the one middleware that turns every failure into a JSON error response."""

from __future__ import annotations

import logging
import re

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from redis.exceptions import RedisError

from conveyor.contracts.codecs import encode
from conveyor.contracts.errors import ErrorCode, ErrorResponse, JobError

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """Base of the errors a handler raises to answer with a JSON error body."""

    status = 500
    code = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.status} {self.code}: {self.message}{where}"


class BadRequestError(GatewayError):
    status = 400
    code = ErrorCode.INVALID_REQUEST


class ValidationFailedError(BadRequestError):
    """A body or parameter failed validation; ``field`` is its JSON path or parameter name."""


class UnauthorizedError(GatewayError):
    status = 401
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="conveyor"'})


class ForbiddenError(GatewayError):
    status = 403
    code = ErrorCode.FORBIDDEN


class NotFoundError(GatewayError):
    status = 404
    code = ErrorCode.NOT_FOUND


class ConflictError(GatewayError):
    status = 409
    code = ErrorCode.CONFLICT


class PayloadTooLargeError(GatewayError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaTypeError(GatewayError):
    status = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class ServiceUnavailableError(GatewayError):
    """A dependency cannot take the request now; the client should retry after a while."""

    status = 503

    def __init__(self, message: str, *, code: ErrorCode, retry_after: int) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_REQUEST,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
}

_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_FIELD_RE = re.compile(r"^Object contains unknown field `([^`]*)`$")


def from_msgspec(exc: msgspec.MsgspecError) -> ValidationFailedError:
    """A 400 naming the JSON path msgspec reported (``$.filters.time_ranges[0]``), if any."""
    text = str(exc)
    # ValidationError subclasses DecodeError: only a pure DecodeError means broken JSON.
    if not isinstance(exc, msgspec.ValidationError):
        return ValidationFailedError(f"body is not valid JSON: {text}")
    match = _PATH_RE.search(text)
    message = text[: match.start()] if match else text
    path = match.group(1) if match else "$"
    unknown = _UNKNOWN_FIELD_RE.match(message)
    if unknown is not None:
        # Name the unknown field itself (``$.filters.region``), not the object holding it.
        return ValidationFailedError(message, field=f"{path}.{unknown.group(1)}")
    return ValidationFailedError(message, field=match.group(1) if match else None)


def error_response(
    status: int,
    code: ErrorCode,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = ErrorResponse(error=JobError(code=code, message=message, field=field))
    return web.Response(
        status=status, body=encode(body), content_type="application/json", headers=headers
    )


def _respond(exc: GatewayError) -> web.Response:
    return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)


def make_error_middleware(retry_after_seconds: int) -> Middleware:
    """The single place where exceptions become HTTP statuses; input errors are never a 500."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as exc:
            return _respond(exc)
        except msgspec.MsgspecError as exc:
            return _respond(from_msgspec(exc))
        except RecursionError:
            # Deeply nested JSON that reached a decoder not guarded by ``decode_body``.
            return _respond(ValidationFailedError("the JSON is nested too deeply"))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, ErrorCode.INTERNAL)
            # aiohttp's reason for 413 mentions the limit; keep it, it helps the client.
            message = exc.text if exc.text and not exc.text.startswith("<") else exc.reason
            return error_response(exc.status, code, message.removeprefix(f"{exc.status}: "))
        except RedisError as exc:
            log.warning("Redis failed during %s %s: %s", request.method, request.path, exc)
            return _respond(
                ServiceUnavailableError(
                    "the job store is unavailable",
                    code=ErrorCode.STORE_UNAVAILABLE,
                    retry_after=retry_after_seconds,
                )
            )
        except Exception:
            log.exception("unexpected error in %s %s", request.method, request.path)
            return error_response(500, ErrorCode.INTERNAL, "internal error")

    return errors
