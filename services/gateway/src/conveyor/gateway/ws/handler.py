"""The ``/ws`` handler: origin check, authentication, then one Session fed by the socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from urllib.parse import urlsplit

import msgspec
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from conveyor.gateway.auth import bearer_token
from conveyor.gateway.errors import ForbiddenError, ValidationFailedError
from conveyor.gateway.state import Gateway, gateway_of
from conveyor.gateway.ws.aiohttp_bridge import direct_transport
from conveyor.gateway.ws.protocol import (
    AUTH_TIMEOUT_SECONDS,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    HEARTBEAT_SECONDS,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    AnyClientMessage,
    Auth,
    Welcome,
    auth_decoder,
    client_decoder,
    encode_text,
)
from conveyor.gateway.ws.session import Invalid, Reply, Session
from conveyor.gateway.ws.token_expiry import TokenExpiry, refresh
from conveyor.runtime.tokens import InvalidTokenError, Principal, verify_token

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 64 * 1024
CLOSE_TIMEOUT_SECONDS = 5.0
"""How long a closing handshake may take before the TCP connection is dropped outright."""

OPEN_SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("open_websockets")


def setup_websocket(app: web.Application) -> None:
    """Serve ``/ws`` and close open sockets on shutdown (else it waits for every client)."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[OPEN_SOCKETS] = sockets
    app.router.add_get("/ws", websocket)
    app.on_shutdown.append(_close_open_sockets)


async def _close_open_sockets(app: web.Application) -> None:
    open_sockets = app[OPEN_SOCKETS]
    await asyncio.gather(
        *(
            ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")
            for ws in list(open_sockets)
        ),
        return_exceptions=True,
    )


def check_origin(request: web.Request, allowed: list[str]) -> None:
    """Browsers send ``Origin``; only our own and the configured ones may connect."""
    origin = request.headers.get("Origin")
    if origin is None or origin in allowed or urlsplit(origin).netloc == request.host:
        return
    raise ForbiddenError(f"origin {origin!r} is not allowed")


def check_subprotocol(request: web.Request) -> None:
    """A client that offers subprotocols must offer ours: other versions are not spoken here."""
    offered = request.headers.get("Sec-WebSocket-Protocol")
    if offered is None:
        return
    if SUBPROTOCOL not in (p.strip() for p in offered.split(",")):
        raise ValidationFailedError(
            f"this gateway speaks WebSocket protocol {SUBPROTOCOL!r}, not {offered!r}",
            field="Sec-WebSocket-Protocol",
        )


async def close_or_drop(
    ws: web.WebSocketResponse, request: web.Request, code: int, why: str
) -> None:
    """Close with ``code``; drop the connection if the client does not take the close frame.

    A client that stopped reading leaves our send buffer full, so the close frame (and the
    closing handshake) could wait forever, holding the connection and its buffers.
    """
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await ws.close(code=code, message=why.encode())
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()


async def _authenticate(
    ws: web.WebSocketResponse, request: web.Request, secret: str
) -> Principal | None:
    header = request.headers.get("Authorization")
    try:
        if header is not None:
            token = bearer_token(header)
            if token is None:
                raise InvalidTokenError("the Authorization header is not 'Bearer <token>'")
        else:
            # Browsers cannot set headers on a WebSocket: the token comes first thing instead.
            msg = await ws.receive(timeout=AUTH_TIMEOUT_SECONDS)
            if msg.type is not WSMsgType.TEXT:
                raise InvalidTokenError("expected an auth message first")
            token = auth_decoder.decode(msg.data).token
        return verify_token(secret, token)
    except (InvalidTokenError, msgspec.MsgspecError, RecursionError, TimeoutError) as exc:
        reason = "authentication timed out" if isinstance(exc, TimeoutError) else str(exc)
        await ws.close(code=CLOSE_UNAUTHORIZED, message=f"unauthorized: {reason}"[:120].encode())
        return None


def decode_client_message(data: str | bytes) -> AnyClientMessage | Invalid:
    """A client's message, or what is wrong with it (answered with an error frame)."""
    try:
        message: AnyClientMessage = client_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        return Invalid(f"bad message: {exc}")
    except RecursionError:
        # msgspec recurses per nesting level while it skips values looking for the tag.
        return Invalid("bad message: the JSON is nested too deeply")
    return message


async def websocket(request: web.Request) -> web.WebSocketResponse:
    gw = gateway_of(request)
    check_origin(request, gw.settings.allowed_origins)
    check_subprotocol(request)
    # No permessage-deflate: a compressed frame depends on its connection's compressor, so a
    # live event could not be built once and written as is to every connection watching it.
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS,
        max_msg_size=MAX_CLIENT_MESSAGE,
        protocols=(SUBPROTOCOL,),
        compress=False,
    )
    await ws.prepare(request)
    principal = await _authenticate(ws, request, gw.settings.jwt_secret)
    if principal is None:
        return ws
    try:
        lease = await gw.limits.open_connection(principal)
    except RedisError as exc:
        # The connection is upgraded: an exception now would put an HTTP 503 on the socket,
        # which clients read as a broken frame (1002), not as the 1011 the protocol documents.
        log.warning("no WebSocket lease for %s (Redis): %s", principal.user, exc)
        await close_or_drop(
            ws, request, CLOSE_INTERNAL_ERROR, "internal error: reconnect and resume"
        )
        return ws
    if lease is None:
        refusal = gw.limits.connection_refusal().encode()[:120]
        await ws.close(code=CLOSE_TOO_MANY_CONNECTIONS, message=refusal)
        return ws
    gw.metrics.ws_connections.inc()
    request.app[OPEN_SOCKETS].add(ws)
    try:
        await _serve(ws, request, principal, gw)
    finally:
        request.app[OPEN_SOCKETS].discard(ws)
        gw.metrics.ws_connections.dec()
        await lease.close()
    return ws


async def _serve(
    ws: web.WebSocketResponse, request: web.Request, principal: Principal, gw: Gateway
) -> None:
    closing: set[asyncio.Task[None]] = set()

    def close_with(code: int, message: str) -> None:
        # Called from outside the reader: closing the socket ends its ``async for``.
        task = asyncio.create_task(close_or_drop(ws, request, code, message))
        closing.add(task)
        task.add_done_callback(closing.discard)

    def too_slow() -> None:
        log.info("closing a WebSocket of %s: it fell too far behind", principal.user)
        close_with(CLOSE_TOO_SLOW, "too slow: resume from your last cursor/seq")

    def session_ended(task: asyncio.Task[None]) -> None:
        # A dropped connection fails the session's pending send: nothing more to report.
        if not task.cancelled() and task.exception() is not None and not ws.closed:
            log.warning("WebSocket session of %s failed: %r", principal.user, task.exception())
            close_with(CLOSE_INTERNAL_ERROR, "internal error: reconnect and resume")

    def token_expired() -> None:
        session.stopped = True  # not one more event for an expired token
        close_with(CLOSE_UNAUTHORIZED, "token expired: reconnect with a fresh token")

    session = Session(
        ws,
        principal,
        store=gw.store,
        intake=gw.intake,
        metrics=gw.metrics,
        inbox_size=gw.settings.ws_send_queue,
        on_overflow=too_slow,
        transport=direct_transport(request, gw.settings.transport),
    )
    expires_at = None if principal.expires_at is None else int(principal.expires_at)
    welcome = Welcome(protocol=PROTOCOL_VERSION, user=principal.user, expires_at=expires_at)
    await ws.send_str(encode_text(welcome))
    expiry = TokenExpiry(token_expired)
    expiry.arm(principal.expires_at)
    worker = asyncio.create_task(session.run(), name=f"ws-session-{principal.user}")
    worker.add_done_callback(session_ended)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                break
            message = decode_client_message(msg.data)
            if isinstance(message, Auth):
                # Checked at once, not behind queued requests: the old token may expire soon.
                fresh, reply = refresh(gw.settings.jwt_secret, principal, message.token)
                if fresh is not None:
                    expiry.arm(fresh.expires_at)
                session.offer(Reply(reply))
            else:
                session.offer(message)
    finally:
        expiry.cancel()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker
        await session.close()
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_TIMEOUT_SECONDS + 1.0)
        if not ws.closed:
            await ws.close()
