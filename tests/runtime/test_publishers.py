"""``PublisherPolicy``: parsing ``CONVEYOR_PUBLISHER_OWNERS`` and deciding who may submit."""

from __future__ import annotations

import pytest

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
