"""Where one job's time goes: its packets on the loopback, stage by stage, one job at a time.

    uv run python -m bench.job_anatomy [--jobs 300] [--gap 0]

Runs the ``AMQP -> event`` round trip of ``bench.peers`` (a confirmed publish of a
diagnostics job, then its ``job.succeeded`` event on this process's consumer) against a real
worker process, while ``tcpdump`` (Debian package ``tcpdump``; needs root) records when each
packet crossed the loopback. Each job's packets, from its publish to its event's arrival, are
split into stages: the broker delivering the job, the worker until its start script leaves,
Redis running it, the worker (handler, settle) until the outcome script leaves, Redis running
that, the worker until the event leaves, the broker delivering the event. Printed: each
stage's median and 90th percentile, ms. ``--gap`` sleeps between jobs (a colder path).

On two cores every process on the path shares them: a stage's time includes whatever else ran
then (a socket write that wakes Redis or RabbitMQ can wait for it on the same core).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiormq
import psutil

from bench._harness import bench_namespace, print_host_speed, worker_process
from bench._peers_conveyor import Client
from bench.job_throughput import WARM_UP
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL, REDIS_URL
from conveyor.runtime.broker import Broker

AMQP = urlsplit(AMQP_URL).port or 5672
REDIS = urlsplit(REDIS_URL).port or 6379
BIG = 300
"""Bytes from which a packet carries a message (a job, an event, a script call)."""
_PACKET = re.compile(r"^(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): .* length (\d+)")

STAGES = (
    "broker delivers the job",
    "worker: until the start script leaves",
    "Redis: start script (send -> reply)",
    "worker: handler, settle, until the outcome script leaves",
    "Redis: outcome script (send -> reply)",
    "worker: until the event leaves",
    "broker delivers the event",
)


@dataclass(frozen=True)
class Packet:
    at: float
    source: int
    target: int
    size: int


def _ports(pid: int, remote: int) -> set[int]:
    return {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == remote
    }


def _stages(job: list[Packet], client: set[int], worker_amqp: set[int]) -> list[float] | None:
    """The stage boundaries of one job's packets (None if one is missing)."""

    def first(after: float, match: object) -> float | None:
        for p in job:
            if p.at >= after and match(p):  # type: ignore[operator]
                return p.at
        return None

    marks = [job[0].at]
    steps = (
        lambda p: p.source == AMQP and p.target in worker_amqp and p.size >= BIG,
        lambda p: p.target == REDIS and p.size >= BIG,
        lambda p: p.source == REDIS,
        lambda p: p.target == REDIS and p.size >= BIG,
        lambda p: p.source == REDIS,
        lambda p: p.source in worker_amqp and p.target == AMQP and p.size >= BIG,
        lambda p: p.source == AMQP and p.target in client and p.size >= BIG,
    )
    for step in steps:
        at = first(marks[-1], step)
        if at is None:
            return None
        marks.append(at)
    return [(b - a) * 1000 for a, b in itertools.pairwise(marks)]


def analyse(lines: list[str], client: set[int], worker_amqp: set[int]) -> list[list[float]]:
    packets = []
    for line in lines:
        m = _PACKET.match(line)
        if m:
            packets.append(Packet(float(m[1]), int(m[2]), int(m[3]), int(m[4])))
    starts = [
        i
        for i, p in enumerate(packets)
        if p.source in client and p.target == AMQP and p.size >= BIG
    ]
    jobs = [packets[a:b] for a, b in zip(starts, [*starts[1:], len(packets)], strict=True)]
    found = (_stages(job, client, worker_amqp) for job in jobs)
    return [stages for stages in found if stages is not None]


async def run(jobs: int, gap: float) -> list[list[float]]:
    async with bench_namespace() as (ns, redis):
        topology = Topology(ns)
        broker = Broker(AMQP_URL, topology, connection_name="bench")
        await broker.connect()
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True)
            assert isinstance(channel, aiormq.Channel)
            client = Client(topology, channel)
            await client.bind()
            async with worker_process(ns, redis) as worker:
                await client.run_bulk(WARM_UP)
                await client.consume()
                for _ in range(20):
                    await client.round_trip()
                with tempfile.TemporaryFile("w+") as out:
                    capture = await asyncio.create_subprocess_exec(
                        *("tcpdump", "-i", "lo", "-tt", "-n", "-l", "-U", "tcp and greater 60"),
                        stdout=out,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                    await asyncio.sleep(1.0)  # tcpdump attaches
                    for _ in range(jobs):
                        await client.round_trip()
                        if gap:
                            await asyncio.sleep(gap)
                    await asyncio.sleep(0.5)
                    capture.terminate()
                    await capture.wait()
                    out.seek(0)
                    lines = out.read().splitlines()
                mine = _ports(os.getpid(), AMQP)
                workers = _ports(worker.process.pid, AMQP)
        finally:
            await connection.close()
            await broker.close()
    return analyse(lines, mine, workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between jobs")
    args = parser.parse_args()
    if shutil.which("tcpdump") is None or os.geteuid() != 0:
        sys.exit("needs tcpdump (apt-get install tcpdump) and root")
    print_host_speed()
    found = asyncio.run(run(args.jobs, args.gap))
    print(f"jobs traced               {len(found)} of {args.jobs}")
    if not found:
        return
    print("stage                                                    p50 ms   p90 ms")
    for i, name in enumerate((*STAGES, "total: publish -> event arrives")):
        values = sorted(s[i] for s in found) if i < len(STAGES) else sorted(map(sum, found))
        p90 = values[int(len(values) * 0.9)]
        print(f"  {name:<55} {statistics.median(values):6.2f}   {p90:6.2f}")


if __name__ == "__main__":
    main()
