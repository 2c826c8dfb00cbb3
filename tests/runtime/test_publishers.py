"""``PublisherPolicy``: parsing ``CONVEYOR_PUBLISHER_OWNERS`` and deciding who may submit."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conveyor.runtime.settings import SettingsError
from conveyor.runtime.worker.publishers import PublisherPolicy

POLICY = PublisherPolicy.parse(["gateway=*", "billing=acme|globex", "billing=initech"])


@pytest.mark.parametrize(
    ("user_id", "owner", "allowed"),
    [
        ("gateway", "anyone", True),
        ("billing", "acme", True),
        ("billing", "initech", True),  # entries for one user add up
        ("billing", "mallory", False),
        ("stranger", "acme", False),
        (None, "acme", False),
    ],
)
def test_a_publisher_may_submit_only_for_its_mapped_owners(
    user_id: str | None, owner: str, allowed: bool
) -> None:
    assert (POLICY.refusal(user_id, owner) is None) is allowed


def test_a_refusal_names_the_publisher_the_owner_and_the_setting() -> None:
    assert POLICY.refusal("billing", "mallory") == (
        "broker user 'billing' may not submit jobs for owner 'mallory' "
        "(see CONVEYOR_PUBLISHER_OWNERS)"
    )


def test_a_wildcard_publisher_entry_admits_even_unidentified_publishers() -> None:
    policy = PublisherPolicy.parse(["*=*"])
    assert policy.refusal(None, "anyone") is None
    assert PublisherPolicy.parse(["*=ops"]).refusal("x", "ops") is None


@pytest.mark.parametrize("entry", ["gateway", "=alice", "gateway=", "gateway=|"])
def test_a_malformed_entry_fails_naming_the_variable(entry: str) -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_PUBLISHER_OWNERS"):
        PublisherPolicy.parse(["gateway=*", entry])


def test_the_compose_security_example_maps_every_service_user_and_the_outside_publisher() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "deploy/rabbitmq/docker-compose.security.yml").read_text()
    example = yaml.safe_load(re.sub(r"\$\{[^}]*\}", "secret", text))  # as compose fills them in
    main = yaml.safe_load((root / "docker-compose.yml").read_text())
    workers = ("maintenance", "export-worker", "aggregates-worker")
    assert set(example["services"]) - {"rabbitmq-users"} <= set(main["services"])
    entries = example["services"]["export-worker"]["environment"]["CONVEYOR_PUBLISHER_OWNERS"]
    assert all(
        example["services"][w]["environment"]["CONVEYOR_PUBLISHER_OWNERS"] == entries
        for w in workers
    )
    policy = PublisherPolicy.parse(entries.split(","))
    users = {
        service: urlsplit(example["services"][service]["environment"]["CONVEYOR_AMQP_URL"]).username
        for service in ("gateway", *workers)
    }
    assert all(policy.refusal(user, "anyone") is None for user in users.values()), users
    assert policy.refusal("billing", "billing-reports") is None
    assert policy.refusal("billing", "alice") is not None
    assert policy.refusal("guest", "alice") is not None, "guest is deleted, and not trusted"
