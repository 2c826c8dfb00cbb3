"""``bench.peers`` in a tiny run of Conveyor alone, so it cannot rot (no figures checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_tiny_run_of_conveyor_alone_prints_every_figure(tmp_path: Path) -> None:
    # No peers' environment (CI has none): the run must say so and measure Conveyor alone.
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.peers", "--systems", "conveyor,dramatiq",
            "--jobs", "30", "--rounds", "1", "--latency", "3", "--count-jobs", "0",
            "--peers-python", str(tmp_path / "no-such-python"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "running Conveyor only" in out
    table = {line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")}
    for figure in (
        "throughput",
        "AMQP -> event p50",
        "AMQP -> event p99",
        "HTTP -> WebSocket p50",
        "HTTP -> WebSocket p99",
        "CPU per job, end to end",
        "CPU per job, HTTP -> WebSocket",
        "peak RSS",
    ):
        assert figure in table, out
