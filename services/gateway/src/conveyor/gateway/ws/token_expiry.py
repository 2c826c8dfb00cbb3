"""A connection lives as long as its token: a timer closes it at expiry, a fresh token resets it.

HTTP checks a token's expiry on every request; a WebSocket is authenticated once, so without
this an expired (or revoked-by-expiry) token would keep receiving events indefinitely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from conveyor.contracts.errors import ErrorCode
from conveyor.gateway.ws.protocol import Authenticated, Error, ServerMessage
from conveyor.runtime.tokens import InvalidTokenError, Principal, verify_token


class TokenExpiry:
    """Calls ``on_expired`` once the current token has expired (re-armed by a fresh token)."""

    def __init__(self, on_expired: Callable[[], None]) -> None:
        self._on_expired = on_expired
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, expires_at: float | None) -> None:
        self.cancel()
        if expires_at is None:
            return
        delay = max(0.0, expires_at - time.time())
        self._handle = asyncio.get_running_loop().call_later(delay, self._on_expired)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def refresh(secret: str, current: Principal, token: str) -> tuple[Principal | None, ServerMessage]:
    """The principal of a fresh ``token`` and the answer to send; ``None`` if refused.

    A fresh token must name the same user and roles: the connection's subscriptions were
    authorised for those (to change them, reconnect).
    """
    try:
        fresh = verify_token(secret, token)
    except InvalidTokenError as exc:
        return None, Error(code=ErrorCode.UNAUTHORIZED.value, message=str(exc))
    if fresh.user != current.user or fresh.roles != current.roles:
        message = "a fresh token must be for the same user and roles; reconnect to change them"
        return None, Error(code=ErrorCode.FORBIDDEN.value, message=message)
    assert fresh.expires_at is not None
    return fresh, Authenticated(expires_at=int(fresh.expires_at))
