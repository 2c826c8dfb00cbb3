"""Routing keys built from the contracts: the wire names every publisher and consumer share."""

from __future__ import annotations

import msgspec
import pytest

from conveyor.contracts.control import CancelJob, ReloadSchedules
from conveyor.contracts.events import DatasetUpdated, SystemHealthReported
from conveyor.contracts.topology import (
    command_routing_key,
    domain_event_routing_key,
    kind_events_binding,
)


def test_domain_events_are_routed_by_their_tag() -> None:
    assert domain_event_routing_key(DatasetUpdated) == "dataset.updated"
    assert domain_event_routing_key(SystemHealthReported) == "system.health"


def test_control_commands_are_routed_under_control() -> None:
    assert command_routing_key(ReloadSchedules) == "control.reload_schedules"
    assert command_routing_key(CancelJob) == "control.cancel_job"


def test_one_kind_of_job_event_of_every_owner_has_a_binding() -> None:
    assert kind_events_binding("succeeded") == "job.*.succeeded.#"


def test_a_struct_without_a_tag_has_no_routing_key() -> None:
    class Untagged(msgspec.Struct):
        pass

    with pytest.raises(TypeError, match="no string tag"):
        domain_event_routing_key(Untagged)
