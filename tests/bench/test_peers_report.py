"""The peers' report: ratios against each peer and the goals of issue 19, from given rounds."""

from __future__ import annotations

import pytest

from bench._peers_counts import Counts
from bench._peers_report import Figures, percentile, print_goals, print_table


def figures(key: str, throughput: float, latency: dict[str, list[float]]) -> Figures:
    fig = Figures(key, key.title())
    fig.rounds.append(
        {
            "throughput": throughput,
            "latency_ms": latency,
            "cpu_us": {"client": 100.0, "worker": 300.0},
            "latency_cpu_us": {kind: {"client": 1.0, "worker": 1.0} for kind in latency},
            "rss_mb": {"client": 40.0, "worker": 60.0},
        }
    )
    return fig


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(101)), 99) == pytest.approx(99)


def test_each_figure_is_printed_as_a_ratio_to_each_peer_and_the_goals_are_judged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    conveyor = figures(
        "conveyor", 3000, {"AMQP -> event": [1.0, 1.0], "HTTP -> WebSocket": [4.0, 4.0]}
    )
    conveyor.counts["AMQP"] = Counts(100, {"received": 4.0}, {"evalsha": 2.0, "hset": 4.0})
    dramatiq = figures("dramatiq", 1000, {"result API": [2.0, 2.0]})
    dramatiq.counts["bulk"] = Counts(100, {"received": 1.0}, {"lpush": 1.0})
    celery = figures("celery", 1000, {"result API": [3.0, 3.0]})
    print_table([conveyor, dramatiq, celery])
    print_goals([conveyor, dramatiq, celery])
    out = capsys.readouterr().out
    ratios = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in out.split("Ratios:")[1].splitlines()
        if line.startswith("| ")
    }
    assert ratios["throughput"] == ["3.00x", "3.00x"]
    assert ratios["AMQP -> event p50"] == ["0.50x", "0.33x"]
    assert ratios["messages/job (AMQP)"] == ["4.00x", ""]
    assert ratios["Redis calls/job (AMQP)"] == ["6.00x", ""]
    goals = [line for line in out.splitlines() if line.startswith("- Conveyor")]
    assert [line.rsplit(", ", 1)[1] for line in goals] == [
        "met",  # throughput 3x Dramatiq's, at least 2x
        "NOT met",  # 3x Celery's, not 4x
        "met",  # AMQP p50 1 ms, Dramatiq's 2
        "met",  # p99 within 2x Dramatiq's
        "NOT met",  # HTTP p50 4 ms, Celery's 3
        "met",  # p99 4 ms within 2x Celery's 3
    ]
