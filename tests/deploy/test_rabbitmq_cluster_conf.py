"""deploy/rabbitmq/cluster.conf on a real RabbitMQ node: its settings parse, and a node alone
(docker-compose.yml without the `ha` profile) boots as a single node.

A private node on spare ports (tests/support/private_rabbit.py) gets the file appended to its
own configuration. Its peers' names (rabbit@rabbitmq-2, ...) resolve nowhere on this machine,
as when the profile is off. RabbitMQ refuses to start on a setting it does not know, so the
boot also checks every key, except the quorum queue reconciliation keys on a RabbitMQ older
than 3.13 (the compose image's version), which did not have them.
"""

from __future__ import annotations

import json
import subprocess

from tests.deploy.compose import ROOT
from tests.support.private_rabbit import PrivateRabbit

CLUSTER_CONF = ROOT / "deploy/rabbitmq/cluster.conf"
RECONCILIATION = "quorum_queue.continuous_membership_reconciliation."


def _installed_version() -> tuple[int, ...]:
    out = subprocess.run(
        ["rabbitmqctl", "version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    return tuple(int(part) for part in out.split(".")[:2])


def _settings_for(version: tuple[int, ...]) -> list[str]:
    lines = [
        line
        for line in CLUSTER_CONF.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if version >= (3, 13):
        return lines
    kept = [line for line in lines if not line.startswith(RECONCILIATION)]
    assert len(kept) == len(lines) - 2  # only the two reconciliation keys are left out
    return kept


async def test_a_lone_node_with_the_cluster_config_boots_as_a_single_node() -> None:
    node = PrivateRabbit()
    config = node.dir / "rabbitmq.conf"
    settings = _settings_for(_installed_version())
    config.write_text(config.read_text() + "\n".join(settings) + "\n")
    try:
        await node.start()
        status = json.loads(await node.ctl("cluster_status", "--formatter", "json"))
        assert status["running_nodes"] == [node.node]
        assert status["disk_nodes"] == [node.node]
        environment = await node.ctl("environment")
        assert "classic_config" in environment
        assert "pause_minority" in environment
    finally:
        await node.kill()
        node.remove()
