"""Conveyor against its peers (Celery, Dramatiq, a bare aio-pika consumer) in one interleaved run.

Each round runs every system once, in an order that rotates per round, with the same job
count on the same machine (runners: ``bench._peers_conveyor`` for Conveyor in the project's
environment, ``bench/peer_systems/runner.py`` for the peers in ``.venv-peers``; each in a
process of its own that starts its own worker). Printed per system and as the ratio of
Conveyor's figure to each peer's: end-to-end throughput of N no-op jobs that each write a
result record to Redis; submit -> done one job at a time, p50 and p99 (Conveyor over an
AMQP publish -> its ``job.succeeded`` event and over HTTP -> the WebSocket; the peers through
their own result APIs); CPU µs per job summed over every process of the system (client,
worker, gateway); the peak of their summed RSS. Then a counting pass on a private RabbitMQ
node and Redis (``bench._peers_counts``): messages and Redis calls per job, and the servers'
CPU per job. Last, the goals of issue 19.

The peers live in a bench-only virtual environment, never in the project's dependencies::

    python3 -m venv .venv-peers && .venv-peers/bin/pip install -r bench/peers-requirements.txt
    rabbitmqctl add_vhost qbench && rabbitmqctl set_permissions -p qbench guest ".*" ".*" ".*"
    uv run python -m bench.peers [--jobs 10000] [--rounds 3] [--latency 200] [--count-jobs 2000]

Without ``.venv-peers`` only Conveyor runs. The peers use the ``qbench`` vhost and Redis DBs
10, 11 and 15 of the shared servers (their runners FLUSHDB those).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._chaos_nodes import Rabbit, Redis
from bench._harness import print_host_speed
from bench._peers_counts import Counters, Snapshot
from bench._peers_report import Figures, print_goals, print_systems, print_table
from bench.peer_systems import measure

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_RUNNER = ROOT / "bench" / "peer_systems" / "runner.py"


@dataclass(frozen=True)
class System:
    key: str
    label: str
    argv: tuple[str, ...]
    """After the interpreter: the runner and its system's arguments."""
    peer: bool

    def command(self, peers_python: Path) -> list[str]:
        return [str(peers_python) if self.peer else sys.executable, *self.argv]


def _peer(key: str, label: str, *args: str) -> System:
    return System(key, label, (str(PEER_RUNNER), *args), peer=True)


SYSTEMS = {
    s.key: s
    for s in (
        System("conveyor", "Conveyor (fast)", ("-m", "bench._peers_conveyor"), peer=False),
        System(
            # The peers' worker shape: 8 at once (Dramatiq's and Celery's 8 threads), holding
            # twice that (Dramatiq's default prefetch; Celery holds 4x).
            "conveyor-c8",
            "Conveyor (fast, c8 p16)",
            ("-m", "bench._peers_conveyor", "--concurrency", "8", "--prefetch", "16"),
            peer=False,
        ),
        System(
            "conveyor-c64",
            "Conveyor (fast, c64)",
            ("-m", "bench._peers_conveyor", "--concurrency", "64"),
            peer=False,
        ),
        System(
            "conveyor-unfolded",
            "Conveyor (fast, no folding)",
            ("-m", "bench._peers_conveyor", "--fold-window", "0"),
            peer=False,
        ),
        System(
            "conveyor-plain",
            "Conveyor (plain)",
            ("-m", "bench._peers_conveyor", "--transport", "plain"),
            peer=False,
        ),
        _peer("dramatiq", "Dramatiq", "dramatiq", "default"),
        _peer("celery", "Celery threads", "celery", "threads"),
        _peer("celery-prefork", "Celery prefork", "celery", "default"),
        _peer("raw", "bare aio-pika", "raw", "batched-uvloop"),
    )
}
DEFAULT_SYSTEMS = "conveyor,conveyor-c8,conveyor-c64,conveyor-plain,dramatiq,celery,raw"

CountHook = Callable[[str, str, int], Awaitable[None]]
"""Called at each handshake line of a counted stretch: (READY or DONE, stretch, jobs)."""


async def run_system(
    system: System,
    options: list[str],
    peers_python: Path,
    env: dict[str, str] | None = None,
    on_count: CountHook | None = None,
) -> dict[str, Any]:
    """Run one system's runner to its end; its result line, decoded."""
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            *system.command(peers_python), *options,
            cwd=ROOT, env={**os.environ, **(env or {})}, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=errors, limit=2**24,
        )  # fmt: skip
        assert process.stdout is not None and process.stdin is not None  # noqa: PT018
        result: dict[str, Any] | None = None
        stretch, jobs = "", 0
        async for raw in process.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith(measure.RESULT_PREFIX):
                result = json.loads(line[len(measure.RESULT_PREFIX) :])
            elif line.startswith((measure.COUNT_READY, measure.COUNT_DONE)):
                marker, stretch, *rest = line.split()
                jobs = int(rest[0]) if rest else jobs
                if on_count is not None:
                    await on_count(marker, stretch, jobs)
                process.stdin.write(b"go\n")
                await process.stdin.drain()
        code = await process.wait()
        if code != 0 or result is None:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"{system.key} exited with {code}:\n{tail}")
    return result


def load(minutes: int = 1) -> str:
    """The load average over the last 1, 5 and 15 minutes (``minutes=3``: all three)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:minutes])


async def timed_rounds(
    systems: list[System], args: argparse.Namespace, figures: dict[str, Figures]
) -> None:
    options = ["--jobs", str(args.jobs), "--latency", str(args.latency)]
    for n in range(args.rounds):
        # Rotated each round, so no system always runs first (on a cooler or warmer host).
        order = systems[n % len(systems) :] + systems[: n % len(systems)]
        for system in order:
            started = time.perf_counter()
            result = await run_system(system, options, args.peers_python)
            figures[system.key].rounds.append(result)
            print(
                f"round {n + 1}: {system.label:<18} {result['throughput']:>7,.0f} jobs/s "
                f"({time.perf_counter() - started:.0f} s, load {load()})",
                flush=True,
            )


def _count_hook(counters: Counters, figures: Figures) -> CountHook:
    """Snapshots the counters at a stretch's READY line and records the deltas at DONE."""
    before: dict[str, Snapshot] = {}

    async def on_count(marker: str, stretch: str, jobs: int) -> None:
        if marker == measure.COUNT_READY:
            before[stretch] = await counters.snapshot()
        else:
            after = await counters.snapshot()
            figures.counts[stretch] = counters.per_job(before[stretch], after, jobs)

    return on_count


async def counting_pass(
    systems: list[System], args: argparse.Namespace, figures: dict[str, Figures]
) -> None:
    rabbit, redis = Rabbit(), Redis(persistent=False)
    try:
        await asyncio.gather(rabbit.start(), redis.start())
        assert redis.pid is not None
        counters = Counters(rabbit.ctl, redis.url, rabbit.pid, redis.pid)
        env = {
            "CONVEYOR_TEST_AMQP_URL": rabbit.url,
            "CONVEYOR_TEST_REDIS_URL": redis.url,
            "QB_AMQP": rabbit.url,
            "QB_REDIS": redis.url.rsplit("/", 1)[0],
        }
        for system in systems:
            options = ["--count", str(args.count_jobs), "--latency", str(args.count_latency)]
            hook = _count_hook(counters, figures[system.key])
            await run_system(system, options, args.peers_python, env, hook)
            print(f"counted: {system.label}", flush=True)
        await counters.close()
    finally:
        await asyncio.gather(rabbit.kill(), redis.kill())
        for directory in (rabbit.dir, redis.dir):
            shutil.rmtree(directory, ignore_errors=True)


async def run(args: argparse.Namespace) -> None:
    keys = [k.strip() for k in args.systems.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    systems = [SYSTEMS[k] for k in keys]
    if any(s.peer for s in systems) and not args.peers_python.exists():
        print(
            f"no peers' environment at {args.peers_python}: running Conveyor only (create it "
            "with: python3 -m venv .venv-peers && .venv-peers/bin/pip install -r "
            "bench/peers-requirements.txt)"
        )
        systems = [s for s in systems if not s.peer]
    figures = {s.key: Figures(s.key, s.label) for s in systems}
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}: {args.jobs} jobs, {args.rounds} rounds, "
        f"{args.latency} latency samples per round; load {load()}",
        flush=True,
    )
    await timed_rounds(systems, args, figures)
    if args.count_jobs:
        await counting_pass(systems, args, figures)
    results = list(figures.values())
    print(f"\nload average at the end: {load(3)}")
    print_systems(results)
    print_table(results)
    print_goals(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="per round and system")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=int, default=200, help="samples per round")
    parser.add_argument("--systems", default=DEFAULT_SYSTEMS, help=", ".join(SYSTEMS))
    parser.add_argument(
        "--count-jobs", type=int, default=2000, help="jobs per system counted (0: no counts)"
    )
    parser.add_argument("--count-latency", type=int, default=200, help="HTTP jobs counted")
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    args = parser.parse_args()
    print_host_speed()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
