"""A private ``redis-server`` on a spare port, for tests that stop and restart Redis.

The machine's shared Redis is never stopped or flushed by a test; fault tests point the
services at one of these instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from redis.asyncio import Redis

from conveyor.runtime.redis_client import open_redis


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """One ``redis-server`` process; ``restart`` keeps its port (and, if on, its data)."""

    def __init__(self, *, persistent: bool = False) -> None:
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="conveyor-redis-"))
        self._persistent = persistent
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None, "redis-server is not installed"
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self._persistent
            else ["--appendonly", "no"]
        )
        self._process = await asyncio.create_subprocess_exec(
            executable,
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self._dir),
            "--save", "", *persistence,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    with contextlib.suppress(OSError, ConnectionError, Exception):
                        if await client.ping():
                            return
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """Stop at once (SIGKILL): what a crash of the Redis host looks like to clients."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGKILL)
            await self._process.wait()

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    def client(self) -> Redis:
        """A client made as the services make theirs."""
        return open_redis(self.url)

    def remove(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_redis(*, persistent: bool = False) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(persistent=persistent)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
        server.remove()
