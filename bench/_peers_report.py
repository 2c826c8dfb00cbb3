"""The figures of ``bench.peers``: rounds pooled per system, tables, ratios and the goals."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._peers_counts import Counts


def percentile(samples: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (the peers' harness's definition)."""
    ordered = sorted(samples)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


@dataclass
class Figures:
    """One system's results over all rounds."""

    key: str
    label: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)
    """Per counted stretch (``AMQP``, ``HTTP``, ``bulk``)."""

    @property
    def describe(self) -> str:
        return str(self.rounds[0].get("describe", "")) if self.rounds else ""

    @property
    def throughputs(self) -> list[float]:
        return [r["throughput"] for r in self.rounds]

    @property
    def throughput(self) -> float:
        return statistics.median(self.throughputs)

    def latencies(self, kind: str) -> list[float]:
        return [x for r in self.rounds for x in r.get("latency_ms", {}).get(kind, [])]

    def latency_kinds(self) -> list[str]:
        return list(self.rounds[0].get("latency_ms", {})) if self.rounds else []

    def cpu(self, parts_key: str = "cpu_us", kind: str | None = None) -> dict[str, float]:
        """Median over the rounds of each process's CPU µs per job, and of their ``total``."""
        per_round = [r[parts_key] if kind is None else r[parts_key][kind] for r in self.rounds]
        per_round = [{**parts, "total": sum(parts.values())} for parts in per_round]
        return {name: statistics.median(p[name] for p in per_round) for name in per_round[0]}

    @property
    def rss(self) -> dict[str, float]:
        """The largest peak of each process over the rounds, and their ``total``."""
        parts = {
            name: max(r["rss_mb"][name] for r in self.rounds) for name in self.rounds[0]["rss_mb"]
        }
        return {**parts, "total": sum(parts.values())}


@dataclass
class Row:
    name: str
    value: float
    unit: str


def rows(figures: Figures) -> list[Row]:
    """The figures compared across systems, one per row."""
    out = [Row("throughput", figures.throughput, "jobs/s")]
    for kind in figures.latency_kinds():
        samples = figures.latencies(kind)
        out.append(Row(f"{kind} p50", percentile(samples, 50), "ms"))
        out.append(Row(f"{kind} p99", percentile(samples, 99), "ms"))
    out.append(Row("CPU per job, end to end", figures.cpu()["total"], "µs"))
    for kind in figures.rounds[0].get("latency_cpu_us", {}):
        total = figures.cpu("latency_cpu_us", kind)["total"]
        out.append(Row(f"CPU per job, {kind}", total, "µs"))
    out.append(Row("peak RSS", figures.rss["total"], "MB"))
    for stretch, counts in figures.counts.items():
        out.append(Row(f"messages/job ({stretch})", counts.messages["received"], ""))
        out.append(Row(f"Redis calls/job ({stretch})", counts.redis_total, ""))
        servers = counts.rabbit_cpu_us + counts.redis_cpu_us
        out.append(Row(f"RabbitMQ+Redis CPU/job ({stretch})", servers, "µs"))
    return out


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit in ("jobs/s", "µs", "MB"):
        return f"{value:,.0f} {unit}"
    return f"{value:.1f}"


def print_systems(systems: list[Figures]) -> None:
    print("\n## Each system (throughput: median of the rounds; latency: rounds pooled)\n")
    for fig in systems:
        print(f"- {fig.label}: {fig.describe}")
        runs = " / ".join(f"{t:,.0f}" for t in fig.throughputs)
        print(f"    throughput per round: {runs} jobs/s")
        for name, cpu in [("end to end", fig.cpu())] + [
            (kind, fig.cpu("latency_cpu_us", kind)) for kind in fig.rounds[0]["latency_cpu_us"]
        ]:
            parts = ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items() if k != "total")
            print(f"    CPU µs/job {name}: {cpu['total']:,.0f} ({parts})")
        rss = ", ".join(f"{k} {v:,.0f}" for k, v in fig.rss.items() if k != "total")
        print(f"    peak RSS MB: {fig.rss['total']:,.0f} ({rss})")
        for stretch, c in fig.counts.items():
            messages = ", ".join(f"{k} {v:.2f}" for k, v in c.messages.items())
            calls = ", ".join(f"{k} {v:.2f}" for k, v in c.redis_calls.items())
            print(f"    per job ({stretch}, {c.jobs} jobs on private nodes): messages {messages}")
            print(f"      Redis calls {c.redis_total:.1f}: {calls}")
            print(
                f"      RabbitMQ CPU {c.rabbit_cpu_us:,.0f} µs, Redis CPU {c.redis_cpu_us:,.0f} µs"
            )


def print_table(systems: list[Figures]) -> None:
    """Every figure of every system, then each Conveyor figure's ratio to each peer's."""
    tables = {fig.key: {r.name: r for r in rows(fig)} for fig in systems}
    names = list(dict.fromkeys(name for t in tables.values() for name in t))
    print("\n| figure | " + " | ".join(fig.label for fig in systems) + " |")
    print("|---|" + "---|" * len(systems))
    for name in names:
        cells = []
        for fig in systems:
            row = tables[fig.key].get(name)
            cells.append(_fmt(row.value, row.unit) if row else "")
        print(f"| {name} | " + " | ".join(cells) + " |")
    ours = [fig for fig in systems if fig.key.startswith("conveyor")]
    peers = [fig for fig in systems if not fig.key.startswith("conveyor")]
    if not peers:
        return
    for o in ours:
        print(
            f"\nRatios: {o.label}'s figure / the peer's (latency: against the peer's result API)\n"
        )
        print("| figure | " + " | ".join(p.label for p in peers) + " |")
        print("|---|" + "---|" * len(peers))
        for name in names:
            cells = []
            for p in peers:
                mine, theirs = tables[o.key].get(name), tables[p.key].get(_peer_row(name))
                ok = mine is not None and theirs is not None and theirs.value
                cells.append(f"{mine.value / theirs.value:.2f}x" if ok else "")  # type: ignore[union-attr]
            if any(cells):
                print(f"| {name} | " + " | ".join(cells) + " |")


def _peer_row(name: str) -> str:
    """The peer's figure a Conveyor figure compares with: theirs have one latency path (their
    result API) and one counted stretch (``bulk``)."""
    for kind in ("AMQP -> event", "HTTP -> WebSocket"):
        name = name.replace(kind, "result API")
    return name.replace("(AMQP)", "(bulk)").replace("(HTTP)", "(bulk)")


GOALS = (
    # (Conveyor row, peer, peer row, factor, higher is better): issue 19, deliverable 3.
    ("throughput", "dramatiq", "throughput", 2.0, True),
    ("throughput", "celery", "throughput", 4.0, True),
    ("AMQP -> event p50", "dramatiq", "result API p50", 1.0, False),
    ("AMQP -> event p99", "dramatiq", "result API p99", 2.0, False),
    ("HTTP -> WebSocket p50", "celery", "result API p50", 1.0, False),
    ("HTTP -> WebSocket p99", "celery", "result API p99", 2.0, False),
)


def print_goals(systems: list[Figures]) -> None:
    tables = {fig.key: {r.name: r for r in rows(fig)} for fig in systems}
    labels = {fig.key: fig.label for fig in systems}
    lines = []
    for fig in systems:
        if not fig.key.startswith("conveyor"):
            continue
        for mine, peer, theirs, factor, higher in GOALS:
            if peer not in tables:
                continue
            a, b = tables[fig.key][mine].value, tables[peer][theirs].value
            met = a >= factor * b if higher else a <= factor * b
            bound = f"{'>=' if higher else '<='} {factor:g}x {labels[peer]}'s {theirs}"
            lines.append(
                f"- {fig.label} {mine} {_fmt(a, tables[fig.key][mine].unit)} {bound} "
                f"({_fmt(b, tables[peer][theirs].unit)}): ratio {a / b:.2f}, "
                f"{'met' if met else 'NOT met'}"
            )
    if lines:
        print("\n## Goals (issue 19, deliverable 3)\n")
        print("\n".join(lines))
