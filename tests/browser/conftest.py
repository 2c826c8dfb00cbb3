"""Browser tests: real headless Chromium (Debian's package) driving the page of a real gateway.

The gateway, an export and an aggregates worker (on a small generated dataset) and a
maintenance worker (for diagnostics jobs) run as processes in one namespace shared by every
module of this package (starting them is most of a browser test's cost); the gateway listens
on a fixed port so a test can restart it and watch the page reconnect to the same address.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.tokens import mint_token
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.namespace import (
    AMQP_URL,
    delete_rabbit_entities,
    delete_redis_keys,
    new_namespace,
)
from tests.support.services import ServiceProcess, start_gateway, start_worker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-tests-secret-of-32-bytes-or-more"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DATASET_ROWS = 6000


def token(user: str, *, admin: bool = False) -> str:
    return mint_token(SECRET, user, roles=("admin",) if admin else ())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Stack:
    """The running services; ``gateway`` is replaced by ``restart_gateway``."""

    namespace: str
    port: int
    data_dir: Path
    gateway: ServiceProcess
    url: str
    store: JobStore
    broker: Broker
    lifecycle: JobLifecycle

    def _env(self) -> dict[str, str]:
        return {
            "CONVEYOR_JWT_SECRET": SECRET,
            "CONVEYOR_DATA_DIR": str(self.data_dir),
            "CONVEYOR_HTTP_PORT": str(self.port),
        }

    async def stop_gateway(self) -> None:
        """SIGTERM: the gateway closes every WebSocket (1001) and exits."""
        self.gateway.terminate()
        await self.gateway.wait(20)

    async def start_gateway(self) -> None:
        self.gateway, self.url = await start_gateway(self.namespace, **self._env())

    async def api(
        self, user: str, method: str, path: str, body: Any = None, *, admin: bool = False
    ) -> Any:
        headers = {"Authorization": f"Bearer {token(user, admin=admin)}"}
        async with (
            aiohttp.ClientSession(base_url=self.url, headers=headers) as http,
            http.request(method, path, json=body) as response,
        ):
            assert response.status < 300, await response.text()
            return await response.json()


@pytest.fixture(scope="package")
async def browser_namespace() -> AsyncIterator[str]:
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)


@pytest.fixture(scope="package")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-data")
    generate(DATASET_ROWS, root / "awards", seed=11, chunk_rows=2000)
    return root


@pytest.fixture(scope="package")
async def stack(browser_namespace: str, redis: Redis, data_dir: Path) -> AsyncIterator[Stack]:
    ns = browser_namespace
    port = free_port()
    store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
    broker = Broker(AMQP_URL, Topology(ns), connection_name="browser-tests")
    # One at a time: started side by side on a busy 2-core machine, each may miss its
    # start-up deadline.
    services: list[ServiceProcess] = []
    try:
        for module, env in (
            (
                "conveyor.export_worker",
                # Many small steps, each reported: the page has progress to show.
                {"CONVEYOR_EXPORT_CHUNK_ROWS": "250", "CONVEYOR_PROGRESS_INTERVAL": "0.02"},
            ),
            # With its scheduler: the admin view pauses and resumes the schedules it seeds.
            (MAINTENANCE, {**FAST_WORKER_ENV, "CONVEYOR_SCHEDULER_ENABLED": "true"}),
            ("conveyor.aggregates_worker", {}),
        ):
            services.append(
                await start_worker(module, ns, redis, CONVEYOR_DATA_DIR=str(data_dir), **env)
            )
        gateway, url = await start_gateway(
            ns,
            CONVEYOR_JWT_SECRET=SECRET,
            CONVEYOR_DATA_DIR=str(data_dir),
            CONVEYOR_HTTP_PORT=str(port),
        )
        await broker.connect()
        stack = Stack(ns, port, data_dir, gateway, url, store, broker, JobLifecycle(store, broker))
        try:
            yield stack
        finally:
            await broker.close()
            services.append(stack.gateway)  # a test may have restarted it
    finally:
        await asyncio.gather(*(service.stop() for service in services))


def chromium_path() -> str:
    assert CHROMIUM.exists(), "install Debian's chromium: apt-get install -y chromium"
    return str(CHROMIUM)


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    # Debian's Chromium, never a browser Playwright downloads.
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, f"the page raised: {errors}"


async def sign_in(page: Page, url: str, user: str, *, admin: bool = False) -> None:
    await page.goto(url)
    await page.get_by_label("Bearer token").fill(token(user, admin=admin))
    await page.get_by_role("button", name="Sign in").click()
    await page.locator('#connection[data-state="live"]').wait_for(timeout=15_000)


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot saved: {path}")
    return path
