"""WebSocket protocol version 1: the messages on ``/ws`` (JSON text frames).

Connect (optionally offering the subprotocol ``conveyor.v1``; the server then selects it, and
refuses with HTTP 400 a client that offers only other versions), then authenticate with an
``Authorization: Bearer <JWT>`` header, or (browsers) send ``{"type": "auth", "token":
"<JWT>"}`` as the first message within 5 s. A failed or missing
authentication closes the connection with code 4401. The server then sends
``{"type": "welcome", "protocol": 1, "user": "<sub>", "expires_at": <token exp>}``. When the
token expires the connection closes with 4401, unless the client sent a fresh token first:
``{"type": "auth", "token": "<JWT>"}`` again, for the same user and roles, answered by
``{"type": "authenticated", "expires_at": <its exp>}`` (or an ``error``; the old one stands).

Client -> server
  ``{"type": "subscribe", "job_id": "<id>", "after_seq": N}``  one job's events with seq > N
      (default 0: the whole kept history, then live); owner or admin only, else ``not_found``.
  ``{"type": "subscribe", "all": true, "after": "<cursor>"}``  events of all own jobs after
      the cursor ("0": the whole kept history; omitted: only events from now on).
  ``{"type": "unsubscribe", "job_id": "<id>"}`` / ``{"type": "unsubscribe", "all": true}``
  ``{"type": "ping"}``  answered by ``{"type": "pong"}``.

Server -> client
  ``{"type": "subscribed", "job_id": ..., "seq": N}`` / ``{"type": "subscribed", "all": true,
      "cursor": C}`` once a subscription's history is delivered (live events follow).
  ``{"type": "event", "job_id": ..., "seq": N, "cursor": ..., "event": {...}}`` for a job
      subscription (``cursor`` when known), ``{"type": "event", "cursor": C, "event": {...}}``
      for an "all" subscription. ``event`` is the job event as stored (``seq``, ``job_id``,
      ``owner``, ``event`` kind, ...).
  ``{"type": "unsubscribed", ...}``, ``{"type": "error", "code": ..., "message": ...}`` (the
      connection stays open: also for malformed, unknown or out-of-range input).

Guarantees: a job's events arrive in seq order, without gaps or duplicates, also across a
reconnect that resumes with the last seen ``seq`` (job) or ``cursor`` (all). A client too slow
to keep up is disconnected with code 4429; one over the user's connection limit is closed with
4409 right after authenticating (1001: the gateway is stopping; 1011: it failed):
reconnect and resume from the last seq/cursor. The server pings every 30 s (WebSocket ping
frames) and drops a connection that does not answer within 15 s; clients may send ``ping``.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

PROTOCOL_VERSION = 1
SUBPROTOCOL = f"conveyor.v{PROTOCOL_VERSION}"
"""Offered by clients in ``Sec-WebSocket-Protocol`` (optional); a client offering only other
versions is refused before the upgrade."""
AUTH_TIMEOUT_SECONDS = 5.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TOO_SLOW = 4429
CLOSE_TOO_MANY_CONNECTIONS = 4409
CLOSE_GOING_AWAY = 1001
HEARTBEAT_SECONDS = 30.0

_STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
_MAX_STREAM_PART = 2**64 - 1
"""Redis stream ids are two unsigned 64-bit numbers."""
MAX_SEQ = 2**53 - 1
"""Above any job's event count; still exact in JavaScript."""

JobId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ClientMessage(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    """Base of what a client sends; unknown fields are refused to catch typos early."""


class Auth(ClientMessage, tag="auth", kw_only=True):
    token: Annotated[str, msgspec.Meta(max_length=8192)]


class Subscribe(ClientMessage, tag="subscribe", kw_only=True):
    job_id: JobId | None = None
    after_seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)] = 0
    all: bool = False
    after: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Unsubscribe(ClientMessage, tag="unsubscribe", kw_only=True):
    job_id: JobId | None = None
    all: bool = False


class Ping(ClientMessage, tag="ping", kw_only=True):
    pass


AnyClientMessage = Auth | Subscribe | Unsubscribe | Ping


class ServerMessage(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of what the server sends; absent optional fields are left out."""


class Welcome(ServerMessage, tag="welcome", kw_only=True):
    protocol: int  # no default: omit_defaults would leave it out
    user: str
    expires_at: int | None = None
    """When the token expires (seconds since the epoch): the connection closes with 4401
    then, unless a fresh token came first."""


class Authenticated(ServerMessage, tag="authenticated", kw_only=True):
    """A fresh token was accepted: the connection now lasts until it expires."""

    expires_at: int


class Subscribed(ServerMessage, tag="subscribed", kw_only=True):
    job_id: str | None = None
    seq: int | None = None
    all: bool = False
    cursor: str | None = None


class Unsubscribed(ServerMessage, tag="unsubscribed", kw_only=True):
    job_id: str | None = None
    all: bool = False


class Pong(ServerMessage, tag="pong", kw_only=True):
    pass


class Error(ServerMessage, tag="error", kw_only=True):
    code: str
    message: str
    job_id: str | None = None


class EventMessage(ServerMessage, tag="event", kw_only=True):
    event: msgspec.Raw
    """The job event's JSON exactly as recorded, never re-encoded."""
    job_id: str | None = None
    seq: int | None = None
    cursor: str | None = None


client_decoder = msgspec.json.Decoder(AnyClientMessage)
auth_decoder = msgspec.json.Decoder(Auth)
encoder = msgspec.json.Encoder()


def encode_text(message: ServerMessage) -> str:
    return encoder.encode(message).decode()


def stream_position(cursor: str) -> tuple[int, int]:
    """A Redis stream id as an orderable (ms, seq) pair; "0" is the very start.

    Raises ``ValueError`` for anything that is not a stream id.
    """
    if cursor == "0":
        return (0, 0)
    match = _STREAM_ID.match(cursor)
    if match is None:
        raise ValueError(f"{cursor!r} is not a cursor this server sent")
    position = int(match.group(1)), int(match.group(2))
    if max(position) > _MAX_STREAM_PART:
        raise ValueError(f"{cursor!r} is not a cursor this server sent")
    return position
