"""The gateway under load: HTTP submit rate and submit -> succeeded latency over the WebSocket.

Runs a real gateway process and one maintenance worker process in a throwaway namespace:
- HTTP submits over ``--clients`` concurrent connections, rate and per-request latency
  p50/p99, twice: by the gateway alone (the worker starts afterwards and drains the jobs, as
  when workers run on other machines) and with the worker running the jobs meanwhile on the
  same two cores. The submits come from wrk when it is installed (Debian package ``wrk``; C,
  so the load generator takes less of the two cores than Python clients do), for
  ``--wrk-seconds``; else, or with ``--python``, ``--submits`` POSTs from Python clients;
- latency: ``--latency-jobs`` jobs submitted one at a time, each timed from the POST until
  its ``job.succeeded`` event arrives on an open WebSocket; p50/p99;
- the gateway's CPU time per submit (user + system; robust to a busy machine) and the RSS
  of both processes.

Each round runs both transport modes (``CONVEYOR_TRANSPORT`` of the gateway and the worker:
``fast``, then ``plain``, the order alternating per round) and prints both.

    uv run python -m bench.gateway_latency [--clients 16] [--latency-jobs 500]
                                           [--wrk-seconds 5] [--python] [--submits 5000]
                                           [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from resource import RUSAGE_CHILDREN, RUSAGE_SELF

import aiohttp
from redis.asyncio import Redis

from bench._harness import (
    bench_namespace,
    cpu_seconds,
    percentiles,
    print_host_speed,
    rss_mb,
    server_processes,
    worker_process,
)
from bench._services import start_unlimited_gateway
from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from conveyor.runtime.transport.mode import MODES, TransportMode

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


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"numbers": [1, 2]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


async def wrk_load(
    url: str, token: str, seconds: float, connections: int
) -> tuple[float, float, float]:
    """Submits by wrk for ``seconds``: (rate, p50, p99) in submits/s and seconds.

    Raises if any submit failed (wrk counts a non-2xx answer as an error).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % token)
        script.flush()
        process = await asyncio.create_subprocess_exec(
            "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", script.name,
            f"{url}/api/v1/jobs/diagnostics",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output = (await process.communicate())[0].decode()
    result = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    if process.returncode != 0 or result is None:
        raise RuntimeError(f"wrk failed:\n{output}")
    requests, duration_us, errors, p50_us, p99_us = map(int, result.split()[1:])
    if errors:
        raise RuntimeError(f"{errors} of {requests} submits failed:\n{output}")
    return requests / (duration_us / 1e6), p50_us / 1e6, p99_us / 1e6


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


@dataclass
class SubmitFigures:
    rate: float
    submits: int
    p50: float
    p99: float
    gateway_cpu: float
    """Seconds of the gateway's CPU (user + system) over the run."""
    others_cpu: dict[str, float]
    """The same for RabbitMQ, Redis, the worker (when it runs) and the load generator."""

    def print(self, label: str, clients: int, generator: str) -> None:
        print(f"{label:<26}{self.rate:,.0f}/s ({self.submits} by {clients} {generator} clients)")
        print(
            f"  latency                 p50 {self.p50 * 1000:.1f} ms  p99 {self.p99 * 1000:.1f} ms"
        )
        print(f"  gateway CPU µs/submit   {self.gateway_cpu / self.submits * 1e6:,.0f}")
        shares = ", ".join(
            f"{name} {cpu / self.submits * 1e6:,.0f}" for name, cpu in self.others_cpu.items()
        )
        print(f"  other CPU µs/submit     {shares}")


async def submit_figures(
    http: aiohttp.ClientSession,
    url: str,
    token: str,
    gateway_pid: int,
    others: dict[str, int],
    *,
    submits: int,
    clients: int,
    wrk_seconds: float,
) -> SubmitFigures:
    """Submit for a while; ``others``: the other processes whose CPU to count, by name."""
    cpu_before = cpu_seconds(gateway_pid)
    others_before = {name: cpu_seconds(pid) for name, pid in others.items()}
    generator_before = load_generator_cpu()
    if wrk_seconds:
        rate, s50, s99 = await wrk_load(url, token, wrk_seconds, clients)
        submits = round(rate * wrk_seconds)
    else:
        rate, submit_latencies = await submit_load(http, submits, clients)
        s50, s99 = percentiles(submit_latencies)
    others_cpu = {name: cpu_seconds(pid) - others_before[name] for name, pid in others.items()}
    others_cpu["load generator"] = load_generator_cpu() - generator_before
    return SubmitFigures(rate, submits, s50, s99, cpu_seconds(gateway_pid) - cpu_before, others_cpu)


def load_generator_cpu() -> float:
    """CPU seconds of this process and of its finished children (wrk runs)."""
    own, children = (resource.getrusage(who) for who in (RUSAGE_SELF, RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def wait_until_drained(redis: Redis, namespace: str, limit: float = 300) -> None:
    """Until no job of the namespace is active (queued, running or retrying) any more."""
    store = JobStore(redis, Keys(namespace), retention_seconds=3600)  # reads only
    async with asyncio.timeout(limit):
        while await store.count_active():
            await asyncio.sleep(0.1)


async def run(
    submits: int,
    clients: int,
    latency_jobs: int,
    concurrency: int,
    wrk_seconds: float,
    mode: TransportMode,
) -> None:
    generator = "wrk" if wrk_seconds else "Python"
    async with bench_namespace() as (ns, redis):
        gateway, url = await start_unlimited_gateway(ns, SECRET, CONVEYOR_TRANSPORT=mode)
        pid = gateway.process.pid
        token = mint_token(SECRET, "bench")
        load = {"submits": submits, "clients": clients, "wrk_seconds": wrk_seconds}
        try:
            connector = aiohttp.TCPConnector(limit=clients)
            async with aiohttp.ClientSession(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, connector=connector
            ) as http:
                await submit_load(http, 200, clients)  # warm-up
                servers = {name: p.pid for name, p in server_processes().items()}
                alone = await submit_figures(http, url, token, pid, servers, **load)
                env = {"CONVEYOR_CONCURRENCY": str(concurrency), "CONVEYOR_TRANSPORT": mode}
                async with worker_process(ns, redis, **env) as worker:
                    await wait_until_drained(redis, ns)
                    others = {**servers, "worker": worker.process.pid}
                    with_worker = await submit_figures(http, url, token, pid, others, **load)
                    await wait_until_drained(redis, ns)  # before timing latency
                    await event_latency(http, 20)  # warm-up
                    cpu_before = cpu_seconds(pid)
                    event_latencies, reply_latencies = await event_latency(http, latency_jobs)
                    ws_cpu = cpu_seconds(pid) - cpu_before
                    gateway_rss, worker_rss = rss_mb(pid), rss_mb(worker.process.pid)
        finally:
            gateway.terminate()
            await gateway.wait(20)
    print(f"transport {mode}")
    alone.print("HTTP submits, gateway", clients, generator)
    with_worker.print("  with the worker along", clients, generator)
    e50, e99 = percentiles(event_latencies)
    print(f"submit -> succeeded (WS)  p50 {e50 * 1000:.1f} ms  p99 {e99 * 1000:.1f} ms "
          f"({latency_jobs} jobs, one at a time)")  # fmt: skip
    r50, r99 = percentiles(reply_latencies)
    print(f"  of which the 202 reply  p50 {r50 * 1000:.1f} ms  p99 {r99 * 1000:.1f} ms "
          "(the job's publish confirmed by RabbitMQ)")  # fmt: skip
    print(f"  gateway CPU µs/submit   {ws_cpu / latency_jobs * 1e6:,.0f} one at a time, "
          "with its WS events (user+system; robust to load)")  # fmt: skip
    print(f"gateway RSS               {gateway_rss:.0f} MB")
    print(f"worker RSS                {worker_rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--submits", type=int, default=5000)
    # Closed loop: each connection waits for its answer, so the mean latency is connections /
    # rate whatever the gateway does; 16 already keep it busy (32 doubled the latency, not
    # the rate).
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--python", action="store_true", help="submit from Python, not wrk")
    parser.add_argument("--wrk-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both transport modes")
    args = parser.parse_args()
    use_wrk = not args.python and shutil.which("wrk") is not None
    wrk_seconds = args.wrk_seconds if use_wrk else 0.0
    print_host_speed()  # first, on a quiet machine
    for n in range(args.rounds):
        for mode in MODES if n % 2 == 0 else tuple(reversed(MODES)):
            asyncio.run(
                run(
                    args.submits,
                    args.clients,
                    args.latency_jobs,
                    args.concurrency,
                    wrk_seconds,
                    mode,
                )
            )


if __name__ == "__main__":
    main()
