"""Messages and Redis calls per job, read from a private RabbitMQ node's and Redis's counters.

The shared RabbitMQ and Redis serve every test run on the machine, so their counters are not
one system's. For the counting pass, ``bench.peers`` starts a RabbitMQ node and a Redis of
its own (``bench._chaos_nodes``), runs each system on them, and reads, around each counted
stretch only (the runners' handshake, ``peer_systems/measure.py``):
- RabbitMQ's global counters (``rabbit_global_counters``, kept without any plugin): messages
  received from publishers, routed to a queue, dropped as unroutable (events nobody is bound
  to), delivered to consumers, acknowledged;
- Redis's ``INFO commandstats``: calls per command, those run inside Lua scripts included;
- the CPU time (user + system) of both servers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bench.peer_systems import measure

RABBIT_COUNTERS = (
    "received", "routed", "dropped unroutable", "delivered", "acknowledged"
)  # fmt: skip
_RABBIT_EXPR = """
O = rabbit_global_counters:overview(),
P = maps:get([{protocol, amqp091}], O),
Qs = [V || {[{protocol, amqp091}, {queue_type, _}], V} <- maps:to_list(O)],
Sum = fun(K) -> lists:sum([maps:get(K, V, 0) || V <- Qs]) end,
[maps:get(messages_received_total, P), maps:get(messages_routed_total, P),
 maps:get(messages_unroutable_dropped_total, P),
 Sum(messages_delivered_total), Sum(messages_acknowledged_total)].
"""
# Commands the measurement itself sends: this module's INFO and the peers' runner's DBSIZE
# polling (its "all done?" check, not the system's work).
NOT_THE_SYSTEMS = frozenset({"info", "dbsize"})


@dataclass
class Snapshot:
    rabbit: dict[str, int]
    redis: dict[str, int]
    rabbit_cpu: float
    redis_cpu: float


@dataclass
class Counts:
    """Per job, over one counted stretch."""

    jobs: int
    messages: dict[str, float]
    redis_calls: dict[str, float] = field(default_factory=dict)
    rabbit_cpu_us: float = 0.0
    redis_cpu_us: float = 0.0

    @property
    def redis_total(self) -> float:
        return sum(self.redis_calls.values())

    def to_json(self) -> dict[str, object]:
        return {
            "jobs": self.jobs,
            "messages": self.messages,
            "redis_calls": self.redis_calls,
            "rabbit_cpu_us": self.rabbit_cpu_us,
            "redis_cpu_us": self.redis_cpu_us,
        }


RabbitCtl = Callable[..., Awaitable[str]]
"""Runs ``rabbitmqctl`` against the node with these arguments; its output (``Rabbit.ctl``)."""


class Counters:
    """Reads a RabbitMQ node's and a Redis's counters, and their servers' CPU time."""

    def __init__(
        self, rabbit_ctl: RabbitCtl, redis_url: str, rabbit_pid: int | None, redis_pid: int | None
    ) -> None:
        self.rabbit_ctl = rabbit_ctl
        self.redis = Redis.from_url(redis_url)
        self.rabbit_pids = [rabbit_pid] if rabbit_pid else []
        self.redis_pids = [redis_pid] if redis_pid else []

    async def snapshot(self) -> Snapshot:
        values = json.loads((await self.rabbit_ctl("eval", _RABBIT_EXPR)).strip())
        stats = await self.redis.info("commandstats")
        calls = {
            name.removeprefix("cmdstat_"): int(stat["calls"])
            for name, stat in stats.items()
            if name.removeprefix("cmdstat_") not in NOT_THE_SYSTEMS
        }
        return Snapshot(
            dict(zip(RABBIT_COUNTERS, values, strict=True)),
            calls,
            measure.cpu_seconds(self.rabbit_pids),
            measure.cpu_seconds(self.redis_pids),
        )

    @staticmethod
    def per_job(before: Snapshot, after: Snapshot, jobs: int) -> Counts:
        calls = {
            name: (n - before.redis.get(name, 0)) / jobs
            for name, n in after.redis.items()
            if n != before.redis.get(name, 0)
        }
        return Counts(
            jobs,
            {k: (after.rabbit[k] - before.rabbit[k]) / jobs for k in RABBIT_COUNTERS},
            dict(sorted(calls.items(), key=lambda kv: -kv[1])),
            (after.rabbit_cpu - before.rabbit_cpu) / jobs * 1e6,
            (after.redis_cpu - before.redis_cpu) / jobs * 1e6,
        )

    async def close(self) -> None:
        await self.redis.aclose()
