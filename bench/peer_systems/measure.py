"""What every system's runner measures the same way: CPU and RSS of process trees, the report.

Imported by Conveyor's runner (``bench._peers_conveyor``, the project's environment) and by the
peers' runner (``runner.py``, the ``.venv-peers`` environment), so it needs only psutil and the
standard library and imports nothing of either.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable

import psutil

RESULT_PREFIX = "PEERS-RESULT "
"""The runner's last stdout line: this prefix, then the result as JSON."""
COUNT_READY, COUNT_DONE = "PEERS-COUNT-READY", "PEERS-COUNT-DONE"
"""Handshake lines around a counted stretch (``counted``): the orchestrator snapshots RabbitMQ's
and Redis's counters at each and answers with a line on the runner's stdin."""


def _processes(pids: Iterable[int], descendants: bool = True) -> list[psutil.Process]:
    """The processes ``pids`` and (``descendants``) all their children, each once."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)] if descendants else [root]
        except psutil.NoSuchProcess:
            continue
        found.update((p.pid, p) for p in tree)
    return list(found.values())


def cpu_seconds(pids: Iterable[int], descendants: bool = True) -> float:
    """User + system CPU so far of the processes (and their descendants alive now)."""
    total = 0.0
    for process in _processes(pids, descendants):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def rss_bytes(pids: Iterable[int]) -> int:
    """Summed RSS of the processes and their descendants, each counted once."""
    total = 0
    for process in _processes(pids):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakRss(threading.Thread):
    """Samples the summed RSS of the process trees ``pids()`` names; keeps the peak.

    A thread, as in the peers' harness (../shared/peers/queue-bench/harness.py), so a busy
    event loop cannot skip samples.
    """

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self._pids = pids
        self._interval = interval
        self._stop_flag = threading.Event()
        self.peak = 0

    def run(self) -> None:
        while not self._stop_flag.is_set():
            self.peak = max(self.peak, rss_bytes(self._pids()))
            time.sleep(self._interval)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop_flag.set()
        self.join(2)
        return self.peak / 1e6


class CpuMeter:
    """CPU seconds of named processes over one stretch: ``start()``, then ``per_job_us()``.

    Each part is its processes with their descendants, except ``client``: the client (this
    process) is the parent of the workers it starts, whose CPU is their own part.
    """

    def __init__(self, parts: dict[str, list[int]]) -> None:
        self._parts = parts
        self._before: dict[str, float] = {}

    def _now(self, name: str) -> float:
        return cpu_seconds(self._parts[name], descendants=name != "client")

    def start(self) -> None:
        self._before = {name: self._now(name) for name in self._parts}

    def per_job_us(self, jobs: int) -> dict[str, float]:
        """µs of CPU per job of each part since ``start()``."""
        return {name: (self._now(name) - self._before[name]) / jobs * 1e6 for name in self._parts}


def counted_ready(label: str, jobs: int) -> None:
    """Tell the orchestrator a counted stretch of ``jobs`` starts; returns once it answers."""
    print(f"{COUNT_READY} {label} {jobs}", flush=True)
    sys.stdin.readline()


def counted_done(label: str) -> None:
    print(f"{COUNT_DONE} {label}", flush=True)
    sys.stdin.readline()


def print_result(result: dict[str, object]) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)
