"""Which job types a service queue carries (topic-binding matching, pure logic)."""

from __future__ import annotations

import pytest

from conveyor.runtime.monitoring.queues import binding_matches, service_job_types


@pytest.mark.parametrize(
    ("binding", "key", "matches"),
    [
        ("job.export", "job.export", True),
        ("job.export", "job.exports", False),
        ("job.maintenance.#", "job.maintenance.cleanup_exports", True),
        ("job.maintenance.#", "job.maintenance", True),
        ("job.maintenance.#", "job.diagnostics", False),
        ("job.*", "job.search", True),
        ("job.*", "job.maintenance.x", False),
        ("#", "anything.at.all", True),
    ],
)
def test_topic_bindings_match_like_rabbitmq(binding: str, key: str, matches: bool) -> None:
    assert binding_matches(binding, key) is matches


def test_each_service_queue_lists_the_job_types_routed_to_it() -> None:
    assert service_job_types("export") == ["export"]
    assert service_job_types("aggregates") == ["aggregates", "search"]
    maintenance = service_job_types("maintenance")
    assert "diagnostics" in maintenance and "maintenance.purge_expired_jobs" in maintenance
    assert not set(maintenance) & {"export", "aggregates", "search"}
