"""Private RabbitMQ and Redis nodes, and Conveyor processes on them, for ``bench.chaos``.

The benchmarks keep their own support code (they never import the test suite), so this is a
small sibling of ``tests/support/private_rabbit.py``, ``private_redis.py`` and
``services.py``. The machine's shared RabbitMQ and Redis are never stopped: every fault
lands on these nodes, each with its own name, ports, data directory and Erlang cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _OwnedProcess:
    """A server process started in a session of its own, so a crash takes all of it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def _spawn(self, *argv: str, env: dict[str, str] | None = None) -> None:
        with (self.dir / f"server-{self.starts}.out").open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    async def _wait_until(self, ready: object, what: str) -> None:
        assert self.process is not None
        async with asyncio.timeout(60):
            while not await ready():  # type: ignore[operator]
                if self.process.returncode is not None:
                    raise RuntimeError(f"{what} exited; see {self.dir}")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL to the whole process group: a crash of the host's server."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                await self.kill()

    @property
    def pid(self) -> int | None:
        running = self.process is not None and self.process.returncode is None
        return self.process.pid if running and self.process is not None else None


class Rabbit(_OwnedProcess):
    """A RabbitMQ node of our own (no plugins, guest allowed from localhost)."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="bench-rabbit-")))
        self.port, self.dist_port = spare_port(), spare_port()
        self.node = f"chaos-{secrets.token_hex(4)}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        home = self.dir / "home"
        home.mkdir()
        (home / ".erlang.cookie").write_text(secrets.token_hex(16))
        (home / ".erlang.cookie").chmod(0o400)
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        d = self.dir
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            # A crashing Erlang VM (node or rabbitmqctl) dumps here, not in the working tree.
            "ERL_CRASH_DUMP": str(d / "erl_crash.dump"),
            "RABBITMQ_PID_FILE": str(d / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    async def start(self) -> None:
        await self._spawn(str(RABBIT_BIN / "rabbitmq-server"), env=self.env)
        await self._wait_until(self._answers, f"RabbitMQ node {self.node}")

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    writer.write(b"AMQP\x00\x00\x09\x01")
                    return await reader.read(1) == b"\x01"
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return False

    async def ctl(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        if process.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.decode()}")
        return out.decode()

    async def connections(self) -> set[str]:
        return set((await self.ctl("list_connections", "--no-table-headers", "pid")).split())


class Redis(_OwnedProcess):
    """A redis-server of our own; ``persistent`` turns the append-only file on (fsync always);
    ``replica_of`` (a port on 127.0.0.1) starts it as that server's replica."""

    def __init__(self, *, persistent: bool, replica_of: int | None = None) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="bench-redis-")))
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.persistent = persistent
        self.replica_of = replica_of

    async def start(self) -> None:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        replica = (
            [] if self.replica_of is None else ["--replicaof", "127.0.0.1", str(self.replica_of)]
        )
        await self._spawn(
            shutil.which("redis-server") or "redis-server",
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
            "--save", "", *(aof or ["--appendonly", "no"]), *replica,
        )  # fmt: skip
        await self._wait_until(self._answers, "redis-server")

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            return (await reader.readline()).startswith(b"+PONG")
        except (OSError, ConnectionError):
            return False
        finally:
            writer.close()


@dataclass
class Service:
    """A Conveyor process (``python -m <module>``) logging JSON to a file."""

    module: str
    instance: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGKILL)


@dataclass
class Nodes:
    """The private nodes and every Conveyor process started on them."""

    namespace: str
    rabbit: Rabbit
    redis: Redis
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)

    async def start(self, module: str, ready_line: str, **env: str) -> Service:
        """Start ``module`` and wait for ``ready_line`` in its log."""
        instance = f"{module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
        log = Path(tempfile.mkstemp(prefix=f"{instance}-", suffix=".log")[1])
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "OTEL_"))}
        environ.update(self.env, CONVEYOR_INSTANCE=instance, PYTHONUNBUFFERED="1", **env)
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, env=environ, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        service = Service(module, instance, process, log)
        self.services.append(service)
        async with asyncio.timeout(60):
            while ready_line not in service.output():
                if not service.alive:
                    raise RuntimeError(f"{module} exited:\n{service.output()[-3000:]}")
                await asyncio.sleep(0.05)
        return service

    async def start_worker(self, **env: str) -> Service:
        return await self.start("conveyor.maintenance", "worker consuming", **env)

    async def start_gateway(self) -> str:
        marker = "Conveyor gateway listening on "
        gateway = await self.start("conveyor.gateway", marker, CONVEYOR_HTTP_PORT="0")
        line = next(x for x in gateway.output().splitlines() if marker in x)
        return line.split(marker, 1)[1].split('"', 1)[0].strip()

    def kill(self, service: Service) -> None:
        service.kill()
        self.killed.add(service.instance)

    def workers(self) -> list[Service]:
        return [s for s in self.services if s.module == "conveyor.maintenance" and s.alive]

    def logs(self) -> list[str]:
        return [s.output() for s in self.services]


@contextlib.asynccontextmanager
async def private_nodes(
    namespace: str, env: dict[str, str], *, persistent: bool
) -> AsyncIterator[Nodes]:
    """Start a private RabbitMQ node and Redis; on exit kill every process and remove every
    directory, whatever happened."""
    rabbit, redis = Rabbit(), Redis(persistent=persistent)
    nodes = Nodes(namespace, rabbit, redis, {})
    try:
        await asyncio.gather(rabbit.start(), redis.start())
        nodes.env = {
            **env,
            "CONVEYOR_NAMESPACE": namespace,
            "CONVEYOR_AMQP_URL": rabbit.url,
            "CONVEYOR_REDIS_URL": redis.url,
        }
        yield nodes
    finally:
        for service in nodes.services:
            service.kill()
        for service in nodes.services:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(service.process.wait(), 10)
            service.log.unlink(missing_ok=True)
        await asyncio.gather(rabbit.kill(), redis.kill())
        shutil.rmtree(rabbit.dir, ignore_errors=True)
        shutil.rmtree(redis.dir, ignore_errors=True)
