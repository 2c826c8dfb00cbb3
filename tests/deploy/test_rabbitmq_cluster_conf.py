"""deploy/rabbitmq/cluster.conf on real RabbitMQ nodes: its settings parse, a node alone
(docker-compose.yml without the `ha` profile) boots as a single node, and three nodes booted
at once with it form one cluster.

Private nodes on spare ports (tests/support/private_rabbit.py) get the file appended to their
own configuration. Alone, a node's peers' names (rabbit@rabbitmq-2, ...) resolve nowhere on
this machine, as when the profile is off; for three nodes the compose names are replaced by
the private nodes' names (the only change), and they share one Erlang cookie. RabbitMQ refuses
to start on a setting it does not know, so the boot also checks every key, except the quorum
queue reconciliation keys on a RabbitMQ older than 3.13 (the compose image's version), which
did not have them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from tests.deploy.compose import ROOT
from tests.support.private_rabbit import PrivateRabbit

CLUSTER_CONF = ROOT / "deploy/rabbitmq/cluster.conf"
COMPOSE_NODES = ("rabbit@rabbitmq", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3")
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


def _with_nodes(settings: list[str], names: list[str]) -> list[str]:
    renamed = dict(zip(COMPOSE_NODES, names, strict=True))
    out = []
    for line in settings:
        key, sep, value = line.partition("=")
        value = value.strip()
        out.append(f"{key}{sep} {renamed[value]}" if value in renamed else line)
    return out


@pytest.mark.cluster
async def test_three_nodes_booted_together_with_the_cluster_config_form_one_cluster() -> None:
    nodes = [PrivateRabbit() for _ in COMPOSE_NODES]
    cookie = (nodes[0].dir / "home" / ".erlang.cookie").read_text()
    settings = _with_nodes(_settings_for(_installed_version()), [node.node for node in nodes])
    assert sum(node.node in "\n".join(settings) for node in nodes) == len(nodes)
    for node in nodes:
        path = node.dir / "home" / ".erlang.cookie"
        path.chmod(0o600)
        path.write_text(cookie)
        path.chmod(0o400)
        config = node.dir / "rabbitmq.conf"
        config.write_text(config.read_text() + "\n".join(settings) + "\n")
    try:
        # All at once, as compose would start them without the depends_on ordering: the
        # formation lock must leave one cluster, not two.
        await asyncio.gather(*(node.start() for node in nodes))
        expected = sorted(node.node for node in nodes)
        async with asyncio.timeout(90):
            while True:
                statuses = [
                    json.loads(await node.ctl("cluster_status", "--formatter", "json"))
                    for node in nodes
                ]
                if all(sorted(s["running_nodes"]) == expected for s in statuses):
                    break
                await asyncio.sleep(0.5)
        assert all(sorted(s["disk_nodes"]) == expected for s in statuses)
    finally:
        await asyncio.gather(*(node.kill() for node in nodes))
        for node in nodes:
            node.remove()
