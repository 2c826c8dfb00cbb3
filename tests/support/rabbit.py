"""Making RabbitMQ misbehave on purpose, for tests of recovery."""

from __future__ import annotations

import subprocess


def close_rabbit_connection(connection_name: str) -> None:
    """Make RabbitMQ drop one named connection, as a broker restart or network cut would."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if connection_name in line]
    assert pids, f"no connection named {connection_name!r}"
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "test: simulated outage"],
            capture_output=True,
            timeout=60,
            check=True,
        )
