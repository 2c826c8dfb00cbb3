"""A private three-node RabbitMQ cluster on spare ports, for tests that stop one of its nodes.

Three ``PrivateRabbit`` nodes (own names, ports, data directories) sharing one Erlang cookie,
joined to the first with ``rabbitmqctl join_cluster``. The machine's shared node is never
touched. Quorum queues declared once the cluster stands have a replica on every node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.private_rabbit import PrivateRabbit


class RabbitCluster:
    """Three nodes; ``url`` lists them all, as ``CONVEYOR_AMQP_URL`` takes a cluster."""

    def __init__(self, size: int = 3) -> None:
        self.nodes = [PrivateRabbit() for _ in range(size)]
        cookie = _cookie(self.nodes[0]).read_text()
        for node in self.nodes[1:]:
            path = _cookie(node)
            path.chmod(0o600)
            path.write_text(cookie)
            path.chmod(0o400)

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    async def start(self) -> None:
        await asyncio.gather(*(node.start() for node in self.nodes))
        first = self.nodes[0].node
        for node in self.nodes[1:]:
            await node.ctl("stop_app")
            await node.ctl("join_cluster", first)
            await node.ctl("start_app")
        status = await self.nodes[0].ctl("cluster_status", "--formatter", "json")
        missing = [n.node for n in self.nodes if n.node not in status]
        assert not missing, f"not clustered: {missing}\n{status}"

    async def kill(self) -> None:
        await asyncio.gather(*(node.kill() for node in self.nodes))

    def remove(self) -> None:
        for node in self.nodes:
            node.remove()


def _cookie(node: PrivateRabbit) -> Path:
    return node.dir / "home" / ".erlang.cookie"


@contextlib.asynccontextmanager
async def rabbit_cluster(size: int = 3) -> AsyncIterator[RabbitCluster]:
    """A started, joined cluster; every node killed and its directory removed on exit."""
    cluster = RabbitCluster(size)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.kill()
        cluster.remove()
