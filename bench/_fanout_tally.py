"""What the WebSocket fan-out benchmark's connections received, and the figures printed from it."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import msgspec

from bench._harness import percentiles


class ProgressEvent(msgspec.Struct):
    """The fields of a progress event frame the tally reads."""

    job_id: str
    seq: int
    message: str | None = None


@dataclass
class Tally:
    """What the connections received: latencies and (connection, job, seq) counts."""

    latencies: list[float] = field(default_factory=list)
    seen: Counter[tuple[int, str, int]] = field(default_factory=Counter)
    first: dict[tuple[str, int], float] = field(default_factory=dict)
    """Each event's latency to the first connection that got it: the pipeline without fan-out."""
    recorded: dict[tuple[str, int], float] = field(default_factory=dict)
    """Each event's latency to its job-store record (the Redis hop alone), by the producer."""
    loop_lag: float = 0.0
    """The load generator's longest event-loop stall: what it adds to every latency it spans."""
    loop_lag_cpu: float = 0.0
    """CPU time the loop's thread used during that stall (the rest it waited for a core)."""

    def take(self, connection: int, event: ProgressEvent | None) -> None:
        if event is None or event.message is None or not event.message.startswith("t="):
            return  # not one of ours (e.g. the job's started event from history)
        latency = time.time() - float(event.message[2:])
        self.latencies.append(latency)
        self.seen[(connection, event.job_id, event.seq)] += 1
        self.first.setdefault((event.job_id, event.seq), latency)


@dataclass
class Figures:
    name: str
    expected: int
    tally: Tally
    rate: float
    peak_rss: float

    def print(self) -> None:
        received = len(self.tally.seen)
        duplicates = sum(n - 1 for n in self.tally.seen.values())
        p50, p99 = percentiles(self.tally.latencies) if self.tally.latencies else (0.0, 0.0)
        print(f"{self.name}")
        print(f"  produced at            {self.rate:,.0f} events/s")
        print(f"  delivered              {received:,} of {self.expected:,} "
              f"(lost {self.expected - received:,}, duplicates {duplicates:,})")  # fmt: skip
        print(f"  latency                p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms")
        if self.tally.first:
            f50, f99 = percentiles(list(self.tally.first.values()))
            print(f"  to the first watcher   p50 {f50 * 1000:.1f} ms  p99 {f99 * 1000:.1f} ms")
        if self.tally.recorded:
            r50, r99 = percentiles(list(self.tally.recorded.values()))
            print(f"  to the Redis record    p50 {r50 * 1000:.1f} ms  p99 {r99 * 1000:.1f} ms")
        print(f"  load generator stalls  longest {self.tally.loop_lag * 1000:.1f} ms "
              f"({self.tally.loop_lag_cpu * 1000:.1f} ms of it on a CPU)")  # fmt: skip
        print(f"  gateway peak RSS       {self.peak_rss:.0f} MB")
