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
import yaml

from conveyor.awards.schema import count_rows
from conveyor.cli.dev import DEV_METRICS_PORT, worker_metrics_ports
from conveyor.runtime.settings import GatewaySettings
from tests.cli._run import CONVEYOR, conveyor
from tests.observability.scrape import scrape, value
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


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports that are free now."""
    while True:
        first = _free_port()
        if first + count <= 65536 and all(_is_free(first + i) for i in range(1, count)):
            return first


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


@dataclass
class DevProcess:
    process: asyncio.subprocess.Process
    port: int
    metrics_port: int
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
    port, metrics_port = _free_port(), _free_ports(3)
    # No CONVEYOR_ENV and the default JWT secret: `conveyor dev` itself must choose development.
    env = base_environ(namespace)
    del env["CONVEYOR_ENV"]
    # Run in a scratch directory so the default CONVEYOR_DATA_DIR (./var) lands there.
    process = await asyncio.create_subprocess_exec(
        *CONVEYOR, "dev", "--port", str(port), "--concurrency", "2", "--demo-rows", "2000",
        "--metrics-port", str(metrics_port),
        env=env, cwd=workdir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    dev = DevProcess(process, port, metrics_port)
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
        await _each_worker_serves_metrics_and_maintenance_counts_them(dev)

        family = [*children.values()]
        for child in children.values():
            family += child.children(recursive=True)
        dev.process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(dev.process.wait(), 60)

        assert code == 0, dev.output
        _, alive = psutil.wait_procs(family, timeout=5)
        assert alive == [], dev.output


async def _each_worker_serves_metrics_and_maintenance_counts_them(dev: DevProcess) -> None:
    ports = worker_metrics_ports(dev.metrics_port)
    assert sorted(ports.values()) == [dev.metrics_port + i for i in range(3)]
    for name, port in ports.items():
        await _scrape_when_up(f"http://127.0.0.1:{port}/metrics", dev, name)
    maintenance = f"http://127.0.0.1:{ports['maintenance']}/metrics"
    async with asyncio.timeout(30):  # the gauge refreshes every heartbeat interval
        while True:
            samples = await scrape(maintenance)
            if all(
                value(samples, "conveyor_workers", service=service, state="alive") == 1
                for service in ("maintenance", "export", "aggregates")
            ):
                break
            await asyncio.sleep(0.5)


async def _scrape_when_up(url: str, dev: DevProcess, name: str) -> None:
    # The gateway can be up before a worker has connected and opened its metrics port.
    try:
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(aiohttp.ClientConnectorError):
                    assert await scrape(url)
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{name} never served {url}:\n{dev.output}") from None


def test_the_dev_prometheus_config_scrapes_the_ports_dev_gives_its_services() -> None:
    config_path = Path(__file__).resolve().parents[2] / "deploy/prometheus/prometheus-dev.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    scraped = {
        static["labels"]["component"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {
        name: f"127.0.0.1:{port}" for name, port in worker_metrics_ports(DEV_METRICS_PORT).items()
    }
    expected["gateway"] = f"127.0.0.1:{GatewaySettings().http_port}"
    assert scraped == expected


def test_dev_refuses_a_metrics_port_in_use_naming_the_worker_and_the_option() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = conveyor(
            "dev", "--port", str(_free_port()), "--metrics-port", str(port),
            env=base_environ("cli-preflight"),
        )  # fmt: skip

    assert result.returncode == 1
    assert f":{port} for maintenance's metrics" in result.stderr
    assert "--metrics-port" in result.stderr


async def test_dev_restarts_a_child_that_died_and_keeps_the_others_running(
    namespace: str, tmp_path: Path
) -> None:
    async with running_dev(namespace, tmp_path) as dev:
        children = dev.children()

        children["conveyor.export_worker"].kill()
        async with asyncio.timeout(60):
            while "export-worker restarted" not in dev.output:
                await asyncio.sleep(0.1)

        assert "export-worker exited (killed by SIGKILL); restarting it in 1 s" in dev.output
        now = dev.children()
        assert set(now) == MODULES, dev.output
        assert now["conveyor.export_worker"].pid != children["conveyor.export_worker"].pid
        for module in MODULES - {"conveyor.export_worker"}:
            assert now[module].pid == children[module].pid, f"{module} was restarted"
        url = f"http://127.0.0.1:{dev.port}/api/v1/health"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200, await response.text()
        dev.process.send_signal(signal.SIGINT)  # Ctrl-C still stops them all
        assert await asyncio.wait_for(dev.process.wait(), 60) == 0, dev.output
        _, alive = psutil.wait_procs(now.values(), timeout=5)
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


def test_dev_checks_redis_through_the_sentinels_when_they_are_set() -> None:
    sentinel = f"127.0.0.1:{_free_port()}"  # nothing listens there
    env = base_environ(
        "cli-preflight",
        CONVEYOR_REDIS_SENTINELS=sentinel,
        CONVEYOR_REDIS_MASTER_NAME="jobs",
        CONVEYOR_REDIS_URL="redis://sentinel-managed/0",
    )

    result = conveyor("dev", "--port", str(_free_port()), env=env)

    assert result.returncode == 1
    assert f"Redis does not answer as the master 'jobs' of Sentinels {sentinel}" in result.stderr
    assert "RabbitMQ is down" not in result.stderr
