"""A private Redis master, one replica and three Sentinels on spare ports, for failover tests.

Each is a ``redis-server`` process (a Sentinel is ``redis-server sentinel.conf --sentinel``),
started for the test and killed after it; the machine's shared Redis is never involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.transport.redis_sentinel import SentinelConfig
from tests.support.private_redis import spare_port

MASTER_NAME = "conveyor"
DOWN_AFTER_MS = 1000
"""A master that does not answer for this long is down; the failover follows within ~2 s."""


class _Node:
    """One ``redis-server`` process (a data node or a Sentinel) on its own port and directory."""

    def __init__(self, root: Path, name: str) -> None:
        self.port = spare_port()
        self.name = name
        self.dir = root / name
        self.dir.mkdir()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, *args: str) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None, "redis-server is not installed"
        self.process = await asyncio.create_subprocess_exec(
            executable, *args,
            stdout=(self.dir / "log").open("ab"), stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        client = Redis(port=self.port)
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
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    def client(self) -> Redis:
        """A plain client of this very process (not following any failover)."""
        return Redis(port=self.port)


class _DataNode(_Node):
    async def start_data(self, *, replica_of: int | None = None) -> None:
        args = [
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        await self.start(*args)


class SentinelSetup:
    """A master, a replica and three Sentinels watching them as ``MASTER_NAME``."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="conveyor-sentinel-"))
        self.data = [_DataNode(self._root, "a"), _DataNode(self._root, "b")]
        self.sentinels = [_Node(self._root, f"sentinel-{i}") for i in range(3)]

    @property
    def config(self) -> SentinelConfig:
        return SentinelConfig([s.address for s in self.sentinels], MASTER_NAME)

    @property
    def env(self) -> dict[str, str]:
        """What a service needs to follow this setup (the URL's host is not used)."""
        return {
            "CONVEYOR_REDIS_URL": "redis://sentinel-managed/0",
            "CONVEYOR_REDIS_SENTINELS": ",".join(s.address for s in self.sentinels),
            "CONVEYOR_REDIS_MASTER_NAME": MASTER_NAME,
        }

    def client(self) -> Redis:
        """A client made as the services make theirs: it follows the master."""
        return open_redis("redis://sentinel-managed/0", self.config)

    async def start(self) -> None:
        master, replica = self.data
        await master.start_data()
        await replica.start_data(replica_of=master.port)
        for sentinel in self.sentinels:
            conf = sentinel.dir / "sentinel.conf"
            conf.write_text(
                f"bind 127.0.0.1\nport {sentinel.port}\ndir {sentinel.dir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            )
            await sentinel.start(str(conf), "--sentinel")
        await self._wait_settled(master)

    async def master(self) -> _DataNode:
        """The data node every Sentinel names as master."""
        ports = set()
        for sentinel in self.sentinels:
            async with contextlib.aclosing(sentinel.client()) as client:
                _, port = await client.sentinel_get_master_addr_by_name(MASTER_NAME)
                ports.add(int(port))
        assert len(ports) == 1, f"the Sentinels disagree on the master: {ports}"
        return next(node for node in self.data if node.port in ports)

    async def replicated(self) -> None:
        """Until the replica has every write the master took so far."""
        master = await self.master()
        async with contextlib.aclosing(master.client()) as client:
            target = (await client.info("replication"))["master_repl_offset"]
        replica = next(node for node in self.data if node is not master)
        async with asyncio.timeout(10), contextlib.aclosing(replica.client()) as client:
            while (await client.info("replication"))["slave_repl_offset"] < target:
                await asyncio.sleep(0.02)

    async def failover(self) -> _DataNode:
        """``SENTINEL FAILOVER``: the replica is promoted and the old master follows it.
        Returns the new master once every Sentinel names it and the old master replicates it."""
        old = await self.master()
        async with contextlib.aclosing(self.sentinels[0].client()) as client:
            await client.sentinel_failover(MASTER_NAME)
        new = next(node for node in self.data if node is not old)
        await self._wait_settled(new)
        return new

    async def kill_master(self) -> tuple[_DataNode, _DataNode]:
        """SIGKILL the master; returns (killed, promoted) once the Sentinels promoted the
        replica. The killed node stays down until ``restart``."""
        old = await self.master()
        await old.kill()
        new = next(node for node in self.data if node is not old)
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(AssertionError, OSError, ConnectionError):
                    if (await self.master()) is new and await _role(new) == "master":
                        return old, new
                await asyncio.sleep(0.1)

    async def restart(self, node: _DataNode) -> None:
        """Start a killed node again, empty, as a replica of the current master."""
        master = await self.master()
        await node.start_data(replica_of=master.port)
        await self._wait_settled(master)

    async def _wait_settled(self, master: _DataNode) -> None:
        """Until every Sentinel names ``master``, knows the other Sentinels and a replica, and
        the replica's link to ``master`` is up."""
        others = [node for node in self.data if node is not master and node.process]
        async with asyncio.timeout(60):
            while not await self._settled(master, others):
                await asyncio.sleep(0.1)

    async def _settled(self, master: _DataNode, replicas: list[_DataNode]) -> bool:
        try:
            if await _role(master) != "master":
                return False
            for replica in replicas:
                async with contextlib.aclosing(replica.client()) as client:
                    info: dict[str, Any] = await client.info("replication")
                if info.get("master_port") != master.port or info["master_link_status"] != "up":
                    return False
            for sentinel in self.sentinels:
                async with contextlib.aclosing(sentinel.client()) as client:
                    state = await client.sentinel_master(MASTER_NAME)
                if int(state["port"]) != master.port or state["num-other-sentinels"] < 2:
                    return False
                if state["num-slaves"] < len(replicas) or "failover_in_progress" in state["flags"]:
                    return False
        except (OSError, ConnectionError, KeyError):
            return False
        return True

    async def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            await node.kill()
        shutil.rmtree(self._root, ignore_errors=True)


async def _role(node: _DataNode) -> str:
    async with contextlib.aclosing(node.client()) as client:
        info = await client.info("replication")
    return str(info["role"])


@contextlib.asynccontextmanager
async def private_sentinel() -> AsyncIterator[SentinelSetup]:
    setup = SentinelSetup()
    try:
        await setup.start()
        yield setup
    finally:
        await setup.stop()
