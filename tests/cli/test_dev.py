"""``conveyor dev`` runs the real gateway and workers, announces the URL and stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import pytest

from conveyor.awards.schema import count_rows
from tests.cli._run import CONVEYOR, conveyor
from tests.support.namespace import base_environ

MODULES = {
    "conveyor.gateway",
    "conveyor.maintenance",
    "conveyor.export_worker",
    "conveyor.aggregates_worker",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DevProcess:
    process: asyncio.subprocess.Process
    port: int
    lines: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if f"Conveyor is up: http://127.0.0.1:{self.port}" in line:
                self.ready.set()

    def children(self) -> dict[str, psutil.Process]:
        """The service processes, by module."""
        found = {}
        for child in psutil.Process(self.process.pid).children():
            cmdline = child.cmdline()
            module = cmdline[cmdline.index("-m") + 1] if "-m" in cmdline else ""
            found[module] = child
        return found


@contextlib.asynccontextmanager
async def running_dev(namespace: str, workdir: Path) -> AsyncIterator[DevProcess]:
    port = _free_port()
    # No CONVEYOR_ENV and the default JWT secret: `conveyor dev` itself must choose development.
    env = base_environ(namespace)
    del env["CONVEYOR_ENV"]
    # Run in a scratch directory so the default CONVEYOR_DATA_DIR (./var) lands there.
    process = await asyncio.create_subprocess_exec(
        *CONVEYOR, "dev", "--port", str(port), "--concurrency", "2", "--demo-rows", "2000",
        env=env, cwd=workdir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    dev = DevProcess(process, port)
    reader = asyncio.create_task(dev.read())
    try:
        ready = asyncio.create_task(dev.ready.wait())
        await asyncio.wait([ready, reader], timeout=90, return_when=asyncio.FIRST_COMPLETED)
        assert dev.ready.is_set(), f"conveyor dev never announced its URL:\n{dev.output}"
        yield dev
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    if child.pid != process.pid and child.ppid() == process.pid:
                        child.kill()
        await process.wait()
        await asyncio.wait_for(reader, 10)


async def test_dev_announces_the_gateway_and_stops_every_child_on_ctrl_c(
    namespace: str, tmp_path: Path
) -> None:
    async with running_dev(namespace, tmp_path) as dev:
        children = dev.children()
        assert set(children) == MODULES, dev.output
        assert count_rows(tmp_path / "var" / "awards") == 2000, "a demo dataset on first start"

        url = f"http://127.0.0.1:{dev.port}/api/v1/health"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200, await response.text()

        family = [*children.values()]
        for child in children.values():
            family += child.children(recursive=True)
        dev.process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(dev.process.wait(), 60)

        assert code == 0, dev.output
        _, alive = psutil.wait_procs(family, timeout=5)
        assert alive == [], dev.output


async def test_dev_stops_everything_and_fails_naming_a_child_that_died(
    namespace: str, tmp_path: Path
) -> None:
    async with running_dev(namespace, tmp_path) as dev:
        children = dev.children()

        children["conveyor.export_worker"].kill()
        code = await asyncio.wait_for(dev.process.wait(), 60)

        assert code != 0
        assert "export-worker exited unexpectedly" in dev.output
        _, alive = psutil.wait_procs(children.values(), timeout=5)
        assert alive == [], dev.output


@pytest.mark.parametrize(
    ("variable", "service", "how_to_start"),
    [
        ("CONVEYOR_REDIS_URL", "Redis", "redis-server --daemonize yes"),
        ("CONVEYOR_AMQP_URL", "RabbitMQ", "rabbitmq-server -detached"),
    ],
)
def test_dev_refuses_to_start_and_says_how_when_a_backing_service_is_down(
    variable: str, service: str, how_to_start: str
) -> None:
    scheme = "redis" if service == "Redis" else "amqp"
    down = f"{scheme}://127.0.0.1:{_free_port()}/"
    env = base_environ("cli-preflight", **{variable: down})

    result = conveyor("dev", "--port", str(_free_port()), env=env)

    assert result.returncode == 1
    assert f"{service} is down" in result.stderr
    assert how_to_start in result.stderr
    other = "RabbitMQ" if service == "Redis" else "Redis"
    assert f"{other} is down" not in result.stderr
