"""The gateway under load: HTTP submit rate and submit -> succeeded latency over the WebSocket.

Runs a real gateway process and one maintenance worker process in a throwaway namespace:
- HTTP submits: ``--submits`` diagnostics jobs POSTed by ``--clients`` concurrent clients
  (the worker runs them meanwhile); rate and per-request latency p50/p99;
- latency: ``--latency-jobs`` jobs submitted one at a time, each timed from the POST until
  its ``job.succeeded`` event arrives on an open WebSocket; p50/p99;
- the gateway's CPU time per submit (user + system; robust to a busy machine) and the RSS
  of both processes.

    uv run python -m bench.gateway_latency [--submits 5000] [--clients 32] [--latency-jobs 500]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench._harness import bench_namespace, cpu_seconds, percentiles, rss_mb, worker_process
from conveyor.runtime.tokens import mint_token
from tests.support.services import start_gateway

SECRET = "bench-secret-0123456789abcdef0123456789"


async def submit_load(
    http: aiohttp.ClientSession, submits: int, clients: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = iter(range(submits))

    async def client() -> None:
        for _ in remaining:
            started = time.perf_counter()
            async with http.post("/api/v1/jobs/diagnostics", json={"numbers": [1, 2]}) as r:
                await r.read()
                if r.status != 202:
                    raise RuntimeError(f"submit answered {r.status}: {await r.text()}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return submits / (time.perf_counter() - started), latencies


async def event_latency(http: aiohttp.ClientSession, jobs: int) -> tuple[list[float], list[float]]:
    """Per job: (submit -> succeeded event on the WebSocket, submit -> 202 reply)."""
    latencies: list[float] = []
    replies: list[float] = []
    async with http.ws_connect("/ws") as ws:
        await ws.receive_json()  # welcome
        await ws.send_json({"type": "subscribe", "all": True})
        await ws.receive_json()  # subscribed
        for _ in range(jobs):
            started = time.perf_counter()
            async with http.post("/api/v1/jobs/diagnostics", json={"numbers": [1]}) as r:
                job_id = (await r.json())["job_id"]
            replies.append(time.perf_counter() - started)
            while True:
                message = await asyncio.wait_for(ws.receive_json(), timeout=30)
                event = message.get("event", {})
                if event.get("job_id") == job_id and event.get("event") == "job.succeeded":
                    break
            latencies.append(time.perf_counter() - started)
    return latencies, replies


async def run(submits: int, clients: int, latency_jobs: int, concurrency: int) -> None:
    async with bench_namespace() as (ns, redis):
        gateway, url = await start_gateway(
            ns, CONVEYOR_JWT_SECRET=SECRET, CONVEYOR_LOG_LEVEL="WARNING"
        )
        try:
            async with worker_process(ns, redis, CONVEYOR_CONCURRENCY=str(concurrency)) as worker:
                headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench')}"}
                connector = aiohttp.TCPConnector(limit=clients)
                async with aiohttp.ClientSession(
                    base_url=url, headers=headers, connector=connector
                ) as http:
                    await submit_load(http, 200, clients)  # warm-up
                    cpu_before = cpu_seconds(gateway.process.pid)
                    rate, submit_latencies = await submit_load(http, submits, clients)
                    gateway_cpu = cpu_seconds(gateway.process.pid) - cpu_before
                    await asyncio.sleep(2)  # let the worker catch up before timing latency
                    await event_latency(http, 20)  # warm-up
                    cpu_before = cpu_seconds(gateway.process.pid)
                    event_latencies, reply_latencies = await event_latency(http, latency_jobs)
                    ws_cpu = cpu_seconds(gateway.process.pid) - cpu_before
                gateway_rss, worker_rss = rss_mb(gateway.process.pid), rss_mb(worker.process.pid)
        finally:
            gateway.terminate()
            await gateway.wait(20)
    s50, s99 = percentiles(submit_latencies)
    e50, e99 = percentiles(event_latencies)
    print(f"HTTP submits              {rate:,.0f}/s ({submits} by {clients} clients)")
    print(f"  latency                 p50 {s50 * 1000:.1f} ms  p99 {s99 * 1000:.1f} ms")
    print(f"submit -> succeeded (WS)  p50 {e50 * 1000:.1f} ms  p99 {e99 * 1000:.1f} ms "
          f"({latency_jobs} jobs, one at a time)")  # fmt: skip
    r50, r99 = percentiles(reply_latencies)
    print(f"  of which the 202 reply  p50 {r50 * 1000:.1f} ms  p99 {r99 * 1000:.1f} ms "
          "(the job's publish confirmed by RabbitMQ)")  # fmt: skip
    print(f"gateway CPU µs per submit {gateway_cpu / submits * 1e6:,.0f} under load, "
          f"{ws_cpu / latency_jobs * 1e6:,.0f} one at a time with its WS events "
          "(user+system; robust to load)")  # fmt: skip
    print(f"gateway RSS               {gateway_rss:.0f} MB")
    print(f"worker RSS                {worker_rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--submits", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(run(args.submits, args.clients, args.latency_jobs, args.concurrency))


if __name__ == "__main__":
    main()
