"""Quorum mode's priority lanes: which queue a routing key reaches, and what a delivery ranks."""

from __future__ import annotations

import pytest

from conveyor.contracts.jobs import Priority
from conveyor.contracts.topology import (
    LANES,
    Topology,
    delivery_rank,
    lane_of_priority,
    lane_routing_key,
    split_lane,
)


def test_the_lanes_stand_for_the_job_priorities_highest_first() -> None:
    assert tuple((p.value, p.amqp_priority) for p in Priority) == LANES


@pytest.mark.parametrize(
    ("priority", "lane"),
    [(2, "interactive"), (9, "interactive"), (1, "bulk"), (0, "scheduled"), (None, "bulk")],
)
def test_a_priority_selects_its_lane(priority: int | None, lane: str) -> None:
    assert lane_of_priority(priority) == lane


@pytest.mark.parametrize(
    ("key", "lane", "expected"),
    [
        ("job.export", "bulk", "job.export"),
        ("job.export", "interactive", "interactive.job.export"),
        ("interactive.job.export", "scheduled", "scheduled.job.export"),
        ("scheduled.job.maintenance.cleanup", "bulk", "job.maintenance.cleanup"),
        ("job.maintenance.#", "interactive", "interactive.job.maintenance.#"),
    ],
)
def test_a_key_moves_into_a_lane_whatever_lane_it_had(key: str, lane: str, expected: str) -> None:
    assert lane_routing_key(key, lane) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("job.export", ("bulk", "job.export")),
        ("interactive.job.export", ("interactive", "job.export")),
        ("interactive.other", ("bulk", "interactive.other")),
        ("bulk.job.export", ("bulk", "bulk.job.export")),
    ],
)
def test_only_a_lane_word_before_a_job_key_is_a_lane(key: str, expected: tuple[str, str]) -> None:
    assert split_lane(key) == expected


@pytest.mark.parametrize(
    ("key", "priority", "rank"),
    [
        ("job.export", None, 1),
        ("scheduled.job.export", None, 0),
        ("interactive.job.export", None, 2),
        ("job.export", 2, 2),  # published straight to the broker with its priority set
        ("interactive.job.export", 1, 1),  # demoted by fair share: its property says bulk
    ],
)
def test_a_delivery_ranks_by_its_priority_else_its_lane(
    key: str, priority: int | None, rank: int
) -> None:
    assert delivery_rank(key, priority) == rank


def test_classic_mode_keeps_one_queue_per_service_and_the_old_names() -> None:
    t = Topology("acme")
    assert t.job_queues("export") == (("acme.jobs.export", None),)
    assert (t.dead_letter_queue, t.delay_queue(500), t.parked_queue("export")) == (
        "acme.dead-letters",
        "acme.delay.500",
        "acme.parked.export",
    )


def test_quorum_mode_names_its_queues_apart_from_the_classic_ones() -> None:
    t = Topology("acme", "quorum")
    assert [name for name, _ in t.job_queues("export")] == [
        "acme.jobs.export.interactive",
        "acme.jobs.export.bulk",
        "acme.jobs.export.scheduled",
    ]
    assert (t.dead_letter_queue, t.delay_queue(500), t.parked_queue("export")) == (
        "acme.dead-letters.quorum",
        "acme.delay.500.quorum",
        "acme.parked.export.quorum",
    )
    assert (t.jobs, t.delays, t.dead_letters) == ("acme.jobs", "acme.delays", "acme.dead-letters")
