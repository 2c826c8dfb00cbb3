"""The gateway as a process: ``python -m conveyor.gateway`` starts, answers, and stops cleanly."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, UNREACHABLE_AMQP_URL, new_user
from tests.support.namespace import base_environ

READY = re.compile(r"Conveyor gateway listening on (http://127\.0\.0\.1:(\d+))")


async def start_gateway(namespace: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conveyor.gateway",
        env=base_environ(namespace, CONVEYOR_HTTP_PORT="0", CONVEYOR_JWT_SECRET=SECRET, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_ready(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line, "the gateway exited before it was ready"
        match = READY.search(line)
        if match:
            assert match.group(2) != "0", "the real port is printed, not 0"
            return match.group(1)


@pytest.fixture
async def gateway_url(namespace: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await start_gateway(namespace)
    try:
        yield process, await wait_ready(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_the_gateway_serves_and_exits_0_on_a_stop_signal(
    gateway_url: tuple[asyncio.subprocess.Process, str], sig: signal.Signals
) -> None:
    process, url = gateway_url
    headers = {"Authorization": f"Bearer {mint_token(SECRET, new_user())}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(50):  # RabbitMQ connects in the background
            async with http.get(f"{url}/api/v1/health") as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
        assert response.status == 200
        async with http.post(f"{url}/api/v1/jobs/diagnostics", json={}, headers=headers) as r:
            assert r.status == 202
    process.send_signal(sig)
    assert await asyncio.wait_for(process.wait(), 15) == 0
    assert process.stderr is not None
    assert b"Traceback" not in await process.stderr.read()


async def test_a_gateway_without_rabbitmq_still_starts_and_reports_it(namespace: str) -> None:
    process = await start_gateway(namespace, CONVEYOR_AMQP_URL=UNREACHABLE_AMQP_URL)
    try:
        url = await wait_ready(process)
        async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1/health") as response:
            assert response.status == 503
            assert (await response.json())["checks"]["rabbitmq"] == "unavailable"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_bad_setting_exits_2_with_a_sentence_naming_it(namespace: str) -> None:
    process = await start_gateway(namespace, CONVEYOR_MAX_BODY_BYTES="lots")
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    text = stderr.decode()
    assert "CONVEYOR_MAX_BODY_BYTES is 'lots'" in text
    assert "Traceback" not in text


async def test_stopping_closes_open_websockets_promptly_as_going_away(
    gateway_url: tuple[asyncio.subprocess.Process, str],
) -> None:
    process, url = gateway_url
    headers = {"Authorization": f"Bearer {mint_token(SECRET, new_user())}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/ws", headers=headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        started = asyncio.get_running_loop().time()
        process.send_signal(signal.SIGTERM)
        message = await ws.receive(timeout=8)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1001
        # Without closing them itself, aiohttp would wait its 10 s shutdown timeout first.
        assert asyncio.get_running_loop().time() - started < 5
    assert await asyncio.wait_for(process.wait(), 15) == 0
