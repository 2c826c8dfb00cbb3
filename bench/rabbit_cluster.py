"""What replication costs per job: quorum queues on a three-node RabbitMQ cluster against
classic queues on the same cluster.

Starts three private RabbitMQ nodes (``bench._chaos_nodes.Rabbit``: own names, ports and data,
never the shared node) with one Erlang cookie, joined with ``rabbitmqctl join_cluster``, then
runs ``bench.job_throughput``'s measurement against them (every process given all three URLs)
once per queue type and round, the order alternating. A quorum queue declared on the standing
cluster has a member on each node; a classic queue lives on the node it was declared on, so
classic mode is the same cluster without replication. RabbitMQ's CPU per job is the sum of the
three nodes' (they share this machine's cores, so the sum is what the cluster spends).

    uv run python -m bench.rabbit_cluster [--jobs 5000] [--rounds 2] [--transport fast]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

import psutil

from bench._chaos_nodes import Rabbit
from bench._harness import print_host_speed, process_listening_on, server_processes
from bench.job_throughput import QUEUE_TYPES, run
from conveyor.runtime.transport.mode import MODES

NODES = 3


@contextlib.asynccontextmanager
async def private_cluster() -> AsyncIterator[list[Rabbit]]:
    """Three joined nodes; each killed and its directory removed on exit."""
    nodes = [Rabbit() for _ in range(NODES)]
    cookie = (nodes[0].dir / "home" / ".erlang.cookie").read_text()
    for node in nodes[1:]:
        path = node.dir / "home" / ".erlang.cookie"
        path.chmod(0o600)
        path.write_text(cookie)
        path.chmod(0o400)
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        for node in nodes[1:]:
            await node.ctl("stop_app")
            await node.ctl("join_cluster", nodes[0].node)
            await node.ctl("start_app")
        status = await nodes[0].ctl("cluster_status", "--formatter", "json")
        missing = [node.node for node in nodes if node.node not in status]
        if missing:
            raise RuntimeError(f"not clustered: {missing}")
        yield nodes
    finally:
        await asyncio.gather(*(node.kill() for node in nodes))
        for node in nodes:
            shutil.rmtree(node.dir, ignore_errors=True)


async def measure(jobs: int, concurrency: int, window: int, rounds: int, mode: str) -> None:
    transport = next(m for m in MODES if m == mode)
    async with private_cluster() as nodes:
        url = ",".join(node.url for node in nodes)
        beams = [process_listening_on(node.port, "beam.smp") for node in nodes]
        servers: dict[str, list[psutil.Process]] = {f"RabbitMQ ({NODES} nodes)": beams}
        if redis := server_processes().get("Redis"):
            servers["Redis"] = [redis]
        print(f"cluster                   {', '.join(node.node for node in nodes)}")
        for n in range(rounds):
            for queue_type in QUEUE_TYPES if n % 2 == 0 else QUEUE_TYPES[::-1]:
                await run(
                    jobs, concurrency, window, transport, queue_type, amqp_url=url, servers=servers
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=int, default=1000, help="publishes in flight")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both queue types")
    parser.add_argument("--transport", choices=MODES, default=MODES[0])
    args = parser.parse_args()
    print_host_speed()
    asyncio.run(measure(args.jobs, args.concurrency, args.window, args.rounds, args.transport))


if __name__ == "__main__":
    main()
