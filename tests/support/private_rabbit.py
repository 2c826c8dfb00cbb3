"""A private RabbitMQ node on spare ports, for tests that stop, kill and restart the broker.

The machine's shared node (``rabbit@localhost`` on 5672) is never touched: this node has its
own name, ports, data and log directories, plugins file (none), configuration file (which
replaces ``/etc/rabbitmq/rabbitmq.conf`` and its 5672 listener) and Erlang cookie (a home
directory of its own). ``restart`` keeps the ports and the data directory, so durable queues
and persistent messages survive as they would on a real broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.private_redis import spare_port

# The scripts themselves, not the /usr/sbin wrappers: those switch to the rabbitmq user,
# whose environment would drop the node's private settings.
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
START_TIMEOUT = 60.0


class PrivateRabbit:
    """One ``rabbitmq-server`` process that this object owns (never started ``-detached``)."""

    def __init__(self) -> None:
        assert Path(SERVER).is_file(), f"{SERVER} is missing (Debian's rabbitmq-server package)"
        self.port = spare_port()
        self.dist_port = spare_port()
        self.node = f"chaos-{secrets.token_hex(4)}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.dir = Path(tempfile.mkdtemp(prefix="conveyor-rabbit-"))
        home = self.dir / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        self._env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            # A crashing Erlang VM (node or rabbitmqctl) dumps here, not in the working tree.
            "ERL_CRASH_DUMP": str(self.dir / "erl_crash.dump"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> float:
        """Start the node and return once it takes AMQP connections; returns the seconds."""
        assert not self.running, "already running"
        loop = asyncio.get_running_loop()
        began = loop.time()
        log = (self.dir / f"server-{self.starts}.out").open("wb")
        self.starts += 1
        with log:
            # A session of its own: a crash (SIGKILL) reaches beam and its helper processes.
            self._process = await asyncio.create_subprocess_exec(
                SERVER, env=self._env, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not await self._answers():
                    if self._process.returncode is not None:
                        raise RuntimeError(f"RabbitMQ node {self.node} exited:\n{self.output()}")
                    await asyncio.sleep(0.1)
        except BaseException:
            await self.kill()
            raise
        return loop.time() - began

    async def _answers(self) -> bool:
        """Whether the listener answers the AMQP protocol header with a method frame (it
        opens once the node has booted; a failed client connect would log noisily)."""
        try:
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    writer.write(b"AMQP\x00\x00\x09\x01")
                    frame_type = await reader.read(1)
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return False
        return frame_type == b"\x01"

    async def stop(self) -> None:
        """A clean shutdown (SIGTERM: RabbitMQ stops gracefully), then SIGKILL if it hangs."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        """Die at once (SIGKILL to the node's process group): a crash of the broker host."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def restart(self, *, crash: bool = False) -> float:
        """Stop (or kill) and start again on the same ports and data; the start's seconds."""
        await (self.kill() if crash else self.stop())
        return await self.start()

    async def ctl(self, *args: str, timeout: float = 60) -> str:
        """Run ``rabbitmqctl`` against this node; returns its output."""
        process = await asyncio.create_subprocess_exec(
            CTL, "-q", "-n", self.node, *args, env=self._env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
        if process.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed:\n{out.decode()}")
        return out.decode()

    def output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.dir.glob("*.out"))
        )

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_rabbit() -> AsyncIterator[PrivateRabbit]:
    """A started node, killed and its directory removed on exit (also on failure)."""
    node = PrivateRabbit()
    try:
        await node.start()
        yield node
    finally:
        await node.kill()
        node.remove()
