"""A tiny HTTP endpoint serving a worker's Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib

from conveyor.runtime.metrics import Metrics


async def serve_metrics(metrics: Metrics, port: int, stack: contextlib.AsyncExitStack) -> None:
    """Serve ``GET /metrics`` on ``port`` until ``stack`` closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = metrics.render()
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {metrics.content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", port)
    stack.push_async_callback(server.wait_closed)
    stack.callback(server.close)
