"""Bearer tokens: HS256 JWTs with ``sub``, ``roles``, ``iat`` and ``exp``, minted and verified."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import jwt

from conveyor.contracts.jobs import RESERVED_OWNERS

ALGORITHM = "HS256"
ADMIN_ROLE = "admin"
OPERATOR_ROLE = "operator"
"""Reads every admin view (workers, queues, dead letters, schedules) but changes nothing."""
DEFAULT_TTL_SECONDS = 12 * 3600


class InvalidTokenError(ValueError):
    """A bearer token is malformed, expired, or not signed with our secret."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid token: {reason}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for."""

    user: str
    roles: frozenset[str] = frozenset()
    expires_at: float | None = field(default=None, compare=False)
    """When the token expires (seconds since the epoch); a WebSocket closes then."""

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def can_observe(self) -> bool:
        """Admins and read-only operators may read the admin views."""
        return self.is_admin or OPERATOR_ROLE in self.roles

    def can_see(self, owner: str) -> bool:
        """Users see their own jobs; admins see everyone's."""
        return self.is_admin or owner == self.user


def mint_token(
    secret: str,
    user: str,
    *,
    roles: Iterable[str] = (),
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: dt.datetime | None = None,
) -> str:
    """A signed token for ``user`` with ``roles``, valid for ``ttl_seconds``."""
    if not user:
        raise ValueError("a token needs a non-empty user")
    if user in RESERVED_OWNERS:
        raise ValueError(f"{user!r} is reserved for the platform's own jobs; choose another user")
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": user,
        "roles": sorted(set(roles)),
        "iat": int(issued.timestamp()),
        "exp": int(issued.timestamp()) + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The principal of a valid token; ``InvalidTokenError`` saying why otherwise.

    A token's signature is checked once and the outcome cached (clients send the same token
    with every request); its expiry is checked on every call.
    """
    principal, expires = _verify_signed(secret, token)
    if expires <= time.time():
        raise InvalidTokenError("it has expired")
    return principal


@lru_cache(maxsize=4096)
def _verify_signed(secret: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never trust the token's own "alg" header
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("it has expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidTokenError(str(exc) or type(exc).__name__) from None
    user = claims.get("sub")
    roles = claims.get("roles", [])
    if not isinstance(user, str) or not user:
        raise InvalidTokenError("claim 'sub' must be a non-empty string")
    if user in RESERVED_OWNERS:
        # Jobs of the scheduler and of outside services are owned by these names.
        raise InvalidTokenError(f"subject {user!r} is reserved for the platform's own jobs")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidTokenError("claim 'roles' must be a list of strings")
    expires = float(claims["exp"])
    return Principal(user=user, roles=frozenset(roles), expires_at=expires), expires
