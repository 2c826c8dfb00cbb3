"""How often the gateway reads Redis for an "all my jobs" WebSocket while one owner's jobs run
concurrently, with the worker's event folding on and off.

    uv run python -m bench.history_reads [--jobs 1000] [--concurrency 16] [--sleep 0]

For each fold window (the default 0.05 s, then 0): a real gateway and worker, one WebSocket
subscribed to all of one user's jobs, ``--jobs`` diagnostics jobs submitted over HTTP,
``--concurrency`` at a time (each sleeping ``--sleep`` seconds in 5 steps, reporting progress,
when given); done when every job's
``job.succeeded`` came over the WebSocket. Printed: the gateway's history reads per job by
reason (``conveyor_websocket_history_reads_total``: a gap read is one live event arriving
before one it follows, which folding can cause between jobs of one owner), the events
delivered per job, and that every job's events came in order and complete.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
from typing import Any

import aiohttp

from bench._harness import bench_namespace, print_host_speed, worker_process
from bench._services import start_unlimited_gateway
from bench.gateway_latency import SECRET
from conveyor.runtime.tokens import mint_token

REASONS = ("subscribe", "gap", "resync")


def _reads(metrics: str) -> dict[str, float]:
    found = dict.fromkeys(REASONS, 0.0)
    for line in metrics.splitlines():
        if line.startswith("conveyor_websocket_history_reads_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            found[reason] = float(line.rsplit(" ", 1)[1])
    return found


async def _run(window: float, jobs: int, concurrency: int, sleep: float) -> dict[str, Any]:
    async with bench_namespace() as (ns, redis):
        gateway, url = await start_unlimited_gateway(ns, SECRET)
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench')}"}
        try:
            env = {"CONVEYOR_EVENT_FOLD_WINDOW": str(window)}
            async with (
                worker_process(ns, redis, **env),
                aiohttp.ClientSession(base_url=url, headers=headers) as http,
                http.ws_connect("/ws") as ws,
            ):
                await ws.receive_json()  # welcome
                await ws.send_json({"type": "subscribe", "all": True})
                await ws.receive_json()  # subscribed
                before = _reads(await (await http.get("/metrics")).text())
                seqs: dict[str, list[int]] = collections.defaultdict(list)
                done: set[str] = set()
                window_slots = asyncio.Semaphore(concurrency)

                async def submit() -> None:
                    async with window_slots:
                        body: dict[str, Any] = {"numbers": [1]}
                        if sleep:
                            body.update(sleep_seconds=sleep, steps=5)
                        async with http.post("/api/v1/jobs/diagnostics", json=body) as r:
                            assert r.status == 202, await r.text()

                async def watch() -> None:
                    while len(done) < jobs:
                        message = await asyncio.wait_for(ws.receive_json(), timeout=60)
                        event = message.get("event", {})
                        seqs[event["job_id"]].append(event["seq"])
                        if event.get("event") == "job.succeeded":
                            done.add(event["job_id"])

                watching = asyncio.create_task(watch())
                await asyncio.gather(*(submit() for _ in range(jobs)))
                await watching
                after = _reads(await (await http.get("/metrics")).text())
        finally:
            await gateway.stop()
    in_order = all(s == list(range(s[0], s[0] + len(s))) for s in seqs.values())
    return {
        "reads": {k: (after[k] - before[k]) / jobs for k in REASONS},
        "events": sum(map(len, seqs.values())) / jobs,
        "in_order": in_order and len(done) == jobs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds each job sleeps")
    args = parser.parse_args()
    print_host_speed()
    print(f"jobs {args.jobs}, {args.concurrency} at a time, each sleeping {args.sleep} s")
    print("fold window   history reads per job (subscribe / gap / resync)   events/job   in order")
    for window in (0.05, 0.0):
        r = asyncio.run(_run(window, args.jobs, args.concurrency, args.sleep))
        reads = " / ".join(f"{r['reads'][k]:.3f}" for k in REASONS)
        print(f"  {window:<11} {reads:<48} {r['events']:10.2f}   {r['in_order']}")


if __name__ == "__main__":
    main()
