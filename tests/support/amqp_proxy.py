"""A TCP proxy in front of RabbitMQ that can lose what the broker says, for the one fault a
real broker will not stage on demand: a publish it took whose confirm never arrives.

``stall()`` keeps forwarding the client's bytes to the broker (the publish arrives and is
queued) but drops everything the broker sends back (the confirm is lost, so are heartbeats);
``cut()`` then closes every connection, as a network that gave up would, and ``heal()`` lets
new connections through normally. Only the connections through this proxy are affected: the
shared broker is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.support.private_redis import spare_port


class AmqpProxy:
    def __init__(self, upstream_port: int = 5672) -> None:
        self.port = spare_port()
        self._upstream_port = upstream_port
        self._stalled = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def stall(self) -> None:
        """From now on, drop every byte the broker sends (confirms included)."""
        self._stalled = True

    def cut(self) -> None:
        """Close every open connection (both ends)."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def heal(self) -> None:
        """Forward both ways again (new connections: ``cut`` the stalled ones first)."""
        self._stalled = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, from_broker=False)),
            asyncio.create_task(self._pipe(up_reader, writer, from_broker=True)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_broker: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if from_broker and self._stalled:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)


@contextlib.asynccontextmanager
async def amqp_proxy() -> AsyncIterator[AmqpProxy]:
    proxy = AmqpProxy()
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
