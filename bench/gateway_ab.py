"""Two checkouts' gateways side by side: submit -> succeeded one job at a time, alternated.

On the shared 2-core machine a benchmark run's figures move by up to 2x with the neighbours'
load, so runs of two commits taken minutes apart compare the hour as much as the code. Here
both run at once, each a gateway and a maintenance worker process from its own checkout (its
``.venv``) in its own namespace, and the jobs alternate between them one by one (the order
flipping every pair): the host's noise falls on both alike. Per side: the 202 reply and the
``job.succeeded`` event on an open WebSocket (subscribed to all the user's jobs), p50/p99 from
the POST; CPU µs per job of the gateway and of the worker (user + system over the timed jobs).

    uv run python -m bench.gateway_ab --base ../main [--jobs 300] [--keyed] [--transport fast]

``--base`` is a checkout with its environment synced (``uv sync``); the other side is this
one. ``--keyed`` sends an ``Idempotency-Key`` with each submit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from bench._harness import bench_namespace, percentiles, print_host_speed
from bench._services import start_unlimited_gateway
from conveyor.dev_support.services import start_worker
from conveyor.runtime.tokens import mint_token

SECRET = "bench-ab-secret-0123456789abcdef0123456789"
WARM_UP = 50


@dataclass
class Side:
    name: str
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    pids: dict[str, int]
    replies: list[float] = field(default_factory=list)
    events: list[float] = field(default_factory=list)

    def cpu(self) -> dict[str, float]:
        return {name: sum(psutil.Process(pid).cpu_times()[:2]) for name, pid in self.pids.items()}


@contextlib.asynccontextmanager
async def running_side(name: str, python: str, transport: str) -> AsyncIterator[Side]:
    async with bench_namespace() as (ns, redis):
        worker = await start_worker(
            "conveyor.maintenance",
            ns,
            redis,
            python=python,
            CONVEYOR_LOG_LEVEL="WARNING",
            CONVEYOR_TRANSPORT=transport,
        )
        try:
            gateway, url = await start_unlimited_gateway(
                ns, SECRET, python=python, CONVEYOR_TRANSPORT=transport
            )
            token = mint_token(SECRET, "bench")
            try:
                async with (
                    aiohttp.ClientSession(
                        base_url=url, headers={"Authorization": f"Bearer {token}"}
                    ) as http,
                    http.ws_connect("/ws") as ws,
                ):
                    await ws.receive_json()  # welcome
                    await ws.send_json({"type": "subscribe", "all": True})
                    await ws.receive_json()  # subscribed
                    pids = {"gateway": gateway.process.pid, "worker": worker.process.pid}
                    yield Side(name, http, ws, pids)
            finally:
                await gateway.stop()
        finally:
            await worker.stop()


async def one_job(side: Side, keyed: bool) -> tuple[float, float]:
    """(POST -> 202, POST -> ``job.succeeded`` on the WebSocket), in seconds."""
    headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else None
    started = time.perf_counter()
    async with side.http.post(
        "/api/v1/jobs/diagnostics", json={"numbers": [1]}, headers=headers
    ) as response:
        assert response.status == 202, await response.text()
        job_id = (await response.json())["job_id"]
    reply = time.perf_counter() - started
    while True:
        message = await asyncio.wait_for(side.ws.receive_json(), 30)
        event = message.get("event", {})
        if event.get("job_id") == job_id and event.get("event") == "job.succeeded":
            return reply, time.perf_counter() - started


async def run(args: argparse.Namespace, pythons: dict[str, str]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        sides = [
            await stack.enter_async_context(running_side(name, python, args.transport))
            for name, python in pythons.items()
        ]
        for side in sides:
            for _ in range(WARM_UP):
                await one_job(side, args.keyed)
        before = [side.cpu() for side in sides]
        for n in range(args.jobs):
            for side in sides if n % 2 == 0 else reversed(sides):
                reply, event = await one_job(side, args.keyed)
                side.replies.append(reply * 1000)
                side.events.append(event * 1000)
        after = [side.cpu() for side in sides]
    print(
        f"{args.jobs} jobs per side, alternated; transport {args.transport}; "
        f"{'with' if args.keyed else 'without'} Idempotency-Key; "
        f"load average at the end {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}"
    )
    for side, start, end in zip(sides, before, after, strict=True):
        reply50, reply99 = percentiles(side.replies)
        event50, event99 = percentiles(side.events)
        cpu = ", ".join(
            f"{name} {(end[name] - start[name]) / args.jobs * 1e6:,.0f}" for name in start
        )
        print(
            f"{side.name:<5} 202 reply p50 {reply50:.2f} ms p99 {reply99:.2f} ms | "
            f"succeeded on the WebSocket p50 {event50:.2f} ms p99 {event99:.2f} ms | "
            f"CPU µs/job {cpu}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--base", required=True, help="the other checkout (synced .venv)")
    parser.add_argument("--jobs", type=int, default=300, help="timed jobs per side")
    parser.add_argument("--keyed", action="store_true", help="send an Idempotency-Key")
    parser.add_argument("--transport", choices=("fast", "plain"), default="fast")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    pythons = {
        "base": str(Path(args.base).resolve() / ".venv/bin/python"),
        "this": str(here / ".venv/bin/python"),
    }
    print_host_speed()
    asyncio.run(run(args, pythons))


if __name__ == "__main__":
    main()
