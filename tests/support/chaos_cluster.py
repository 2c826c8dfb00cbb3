"""Conveyor service processes on a private RabbitMQ node and a private Redis, for chaos tests.

Every process is started here and killed on exit, even when a scenario fails; the processes
log JSON so that ``tests.support.job_ledger`` can count each job's runs from their output.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET, new_user
from tests.support.job_ledger import Ledger
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.private_rabbit import PrivateRabbit
from tests.support.private_redis import PrivateRedis
from tests.support.rabbit_cluster import RabbitCluster
from tests.support.services import ServiceProcess, start_gateway, start_worker


@dataclass
class Cluster:
    namespace: str
    rabbit: PrivateRabbit | RabbitCluster
    """One node, or a cluster (its ``url`` lists every node)."""
    redis_server: PrivateRedis
    redis: Redis
    store: JobStore
    processes: list[ServiceProcess] = field(default_factory=list)
    ledgers: int = 0
    """Ledgers handed out by ``start_gateway``."""
    killed: set[str] = field(default_factory=set)
    """Instances this scenario SIGKILLed (a run of theirs may be repeated, by design)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **FAST_WORKER_ENV,
            "CONVEYOR_AMQP_URL": self.rabbit.url,
            "CONVEYOR_REDIS_URL": self.redis_server.url,
            "CONVEYOR_JWT_SECRET": SECRET,
            "CONVEYOR_LOG_FORMAT": "json",
            # One user stands for many clients: the limits are set never to refuse.
            "CONVEYOR_SUBMIT_RATE": "1000000",
            "CONVEYOR_SUBMIT_BURST": "1000000",
            "CONVEYOR_MAX_JOBS_IN_FLIGHT": "1000000",
            "CONVEYOR_RETRY_AFTER_SECONDS": "1",
        }

    async def start_worker(self, module: str = MAINTENANCE, **env: str) -> ServiceProcess:
        worker = await start_worker(module, self.namespace, self.redis, **{**self.env, **env})
        self.processes.append(worker)
        return worker

    def kill(self, process: ServiceProcess) -> None:
        """SIGKILL: a real worker death."""
        process.kill()
        self.killed.add(process.instance)

    async def start_gateway(self, **env: str) -> Ledger:
        """A gateway and a ledger of one user's submissions through it."""
        gateway, url = await start_gateway(self.namespace, **{**self.env, **env})
        self.processes.append(gateway)
        # Markers unique across the cluster's ledgers: runs are matched to answers by marker.
        self.ledgers += 1
        first_marker = 1 + 1_000_000 * (self.ledgers - 1)
        return Ledger(url, mint_token(SECRET, new_user()), _next_marker=first_marker)

    def logs(self) -> list[str]:
        return [process.output() for process in self.processes]

    def workers(self) -> list[ServiceProcess]:
        return [
            p for p in self.processes if p.module == MAINTENANCE and p.process.returncode is None
        ]


@contextlib.asynccontextmanager
async def chaos_cluster(
    namespace: str, rabbit: PrivateRabbit | RabbitCluster, redis_server: PrivateRedis
) -> AsyncIterator[Cluster]:
    redis = redis_server.client()
    cluster = Cluster(
        namespace,
        rabbit,
        redis_server,
        redis,
        JobStore(redis, Keys(namespace), retention_seconds=3600, history_max=100),
    )
    try:
        yield cluster
    finally:
        for process in cluster.processes:
            process.kill()
        for process in cluster.processes:
            with contextlib.suppress(TimeoutError):
                await process.wait(10)
            process.log_path.unlink(missing_ok=True)
        await redis.aclose()
