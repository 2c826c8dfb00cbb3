"""Bearer-token authentication: every request except the public ones acts for a Principal."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from conveyor.gateway.errors import ForbiddenError, UnauthorizedError
from conveyor.gateway.state import gateway_of
from conveyor.gateway.web.pages import is_public as is_public_page
from conveyor.runtime.tokens import InvalidTokenError, Principal, verify_token

PUBLIC_PATHS = frozenset(
    {"/", "/metrics", "/api/v1/health", "/api/v1/openapi.json", "/api/v1/asyncapi.json"}
)
# The WebSocket authenticates itself: a browser cannot set headers, so it may send the token
# as its first message instead.
SELF_AUTHENTICATED_PATHS = frozenset({"/ws"})

PRINCIPAL = web.RequestKey("principal", Principal)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` if there is none."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(secret: str, header: str | None) -> Principal:
    token = bearer_token(header)
    if token is None:
        raise UnauthorizedError("an 'Authorization: Bearer <token>' header is required")
    try:
        return verify_token(secret, token)
    except InvalidTokenError as exc:
        raise UnauthorizedError(str(exc)) from None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path in PUBLIC_PATHS or path in SELF_AUTHENTICATED_PATHS or is_public_page(path):
        return await handler(request)
    secret = gateway_of(request).settings.jwt_secret
    request[PRINCIPAL] = authenticate(secret, request.headers.get("Authorization"))
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def require_admin(request: web.Request) -> Principal:
    """The request's principal, who must be an admin (403 otherwise)."""
    principal = principal_of(request)
    if not principal.is_admin:
        raise ForbiddenError("this needs the 'admin' role")
    return principal


def require_observer(request: web.Request) -> Principal:
    """The request's principal, who must be an admin or a read-only operator (403 otherwise)."""
    principal = principal_of(request)
    if not principal.can_observe:
        raise ForbiddenError("this needs the 'admin' or the read-only 'operator' role")
    return principal
