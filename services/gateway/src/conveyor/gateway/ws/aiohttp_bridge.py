"""aiohttp below its public API: whole WebSocket frames built once and written straight to a
connection's transport, past ``WebSocketResponse``'s writer (the ``fast`` transport).

A live event watched by a thousand connections is the same frame on each of them. Building
it once and writing the bytes to every transport whose connection is in steady state costs
one ``transport.write`` per connection, instead of a task wake-up, a dispatch and aiohttp's
per-frame header assembly. In ``plain`` mode (``Settings.transport``) no connection gets a
transport here, so every event goes through the session's task and ``ws.send_frame``.
The only module that writes to a WebSocket's transport (``tests/test_library_boundaries.py``).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Literal

from aiohttp import web

_FIN_TEXT = 0x81


def direct_transport(
    request: web.Request, transport: Literal["fast", "plain"]
) -> asyncio.Transport | None:
    """The transport a session may write frames to directly: none in ``plain`` mode."""
    return request.transport if transport == "fast" else None


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented, uncompressed text frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", _FIN_TEXT, n)
    elif n < 65536:
        header = struct.pack("!BBH", _FIN_TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, n)
    return header + payload


class DirectWriter:
    """Writes pre-built frames to one connection while nothing else is in its way.

    Only for connections without permessage-deflate (a compressed connection's frames depend
    on its own compressor state) and only while the transport's buffer is empty: a
    connection that is backpressured is left to its session's task, which waits for it.
    """

    __slots__ = ("_transport", "_ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        # No isinstance check: uvloop's transports do not derive from asyncio's classes.
        self._ws = ws
        self._transport = None if ws.compress else transport

    def ready(self) -> bool:
        transport = self._transport
        return (
            transport is not None
            and not self._ws.closed
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
        )

    def write(self, frame: bytes) -> None:
        """Write ``frame`` (from :func:`text_frame`); call only right after ``ready()``."""
        assert self._transport is not None
        self._transport.write(frame)
