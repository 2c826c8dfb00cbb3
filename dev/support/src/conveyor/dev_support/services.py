"""Start real Conveyor service processes, with their output kept for diagnosis."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.dev_support.namespace import base_environ


@dataclass
class ServiceProcess:
    module: str
    instance: str
    process: asyncio.subprocess.Process
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 30.0) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 20 s."""
        self.terminate()
        try:
            await self.wait(20)
        except TimeoutError:
            self.kill()
            await self.wait(5)


async def start_worker(
    module: str, namespace: str, redis: Redis, *, python: str = sys.executable, **env: str
) -> ServiceProcess:
    """Start ``python -m <module>`` and return once its first heartbeat is in Redis.

    ``python``: another checkout's interpreter runs that checkout's code (``bench.gateway_ab``).
    """
    instance = f"{module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
    log = Path(tempfile.mkstemp(prefix=f"{instance}-", suffix=".log")[1])
    environ = base_environ(namespace, CONVEYOR_INSTANCE=instance, **env)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            python, "-m", module, env=environ, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    service = ServiceProcess(module, instance, process, log)
    key = Keys(namespace).worker(instance)
    for _ in range(300):
        if await redis.exists(key):
            # The heartbeat is written before consuming starts; give the consumer a moment.
            await asyncio.sleep(0.2)
            return service
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    service.kill()
    raise RuntimeError(f"{module} did not start:\n{service.output()}")


@contextlib.asynccontextmanager
async def running_worker(
    module: str, namespace: str, redis: Redis, **env: str
) -> AsyncIterator[ServiceProcess]:
    """A worker for the duration of a block; stopped with SIGTERM (SIGKILL if it hangs)."""
    service = await start_worker(module, namespace, redis, **env)
    try:
        yield service
    finally:
        await service.stop()


async def start_gateway(
    namespace: str, *, python: str = sys.executable, **env: str
) -> tuple[ServiceProcess, str]:
    """Start ``python -m conveyor.gateway`` on a free port; returns it and its base URL.

    Returns once the gateway's health check passes, i.e. RabbitMQ and Redis are connected.
    """
    instance = f"gateway-{uuid.uuid4().hex[:6]}"
    log = Path(tempfile.mkstemp(prefix=f"{instance}-", suffix=".log")[1])
    # Port 0 (any free one) unless the caller pins one, e.g. to restart on the same address.
    settings = {"CONVEYOR_INSTANCE": instance, "CONVEYOR_HTTP_PORT": "0", **env}
    environ = base_environ(namespace, **settings)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            python,
            "-m",
            "conveyor.gateway",
            env=environ,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    service = ServiceProcess("conveyor.gateway", instance, process, log)
    marker = "Conveyor gateway listening on "
    for _ in range(300):
        for line in service.output().splitlines():
            if line.startswith(marker):
                url = line[len(marker) :].strip()
                if await _healthy(url):
                    return service, url
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    service.kill()
    raise RuntimeError(f"the gateway did not start:\n{service.output()}")


async def _healthy(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/api/v1/health") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False
