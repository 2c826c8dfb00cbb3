"""What every system's runner measures the same way: CPU and RSS of process trees, the report.

Imported by Conveyor's runner (``bench._peers_conveyor``, the project's environment) and by the
peers' runner (``runner.py``, the ``.venv-peers`` environment), so it needs only psutil and the
standard library and imports nothing of either.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

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


def _vm_hwm(pid: int) -> int:
    """The process's peak resident set so far, bytes (the kernel's VmHWM: misses nothing)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """The peak RSS of every process seen at a checkpoint (``record``), summed per part.

    Read from the kernel's VmHWM rather than sampled: the peers' harness sampled from a thread
    every 50 ms, and listing a process tree reads all of /proc, which took CPU from the client
    whose CPU per job is measured. A sum is an upper bound: the peaks may not coincide. Parts
    as in ``CpuMeter`` (``client`` without its descendants).
    """

    def __init__(self) -> None:
        self._peaks: dict[str, dict[int, int]] = {}

    def record(self, parts: dict[str, list[int]]) -> None:
        """Call while the processes are alive, after their work (e.g. before stopping them)."""
        for name, pids in parts.items():
            peaks = self._peaks.setdefault(name, {})
            for process in _processes(pids, descendants=name != "client"):
                try:
                    peaks[process.pid] = max(peaks.get(process.pid, 0), _vm_hwm(process.pid))
                except (FileNotFoundError, ProcessLookupError):
                    continue

    @property
    def parts_mb(self) -> dict[str, float]:
        return {name: sum(peaks.values()) / 1e6 for name, peaks in self._peaks.items()}


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
