"""``OwnerShares``: the per-owner cap of interactive jobs in one worker."""

from __future__ import annotations

import pytest

from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope, Priority
from conveyor.runtime.worker.fair_share import OwnerShares, owner_cap


@pytest.mark.parametrize(
    ("concurrency", "setting", "cap"), [(4, 0, 3), (1, 0, 1), (2, 0, 1), (8, 2, 2), (4, 9, 9)]
)
def test_the_cap_is_the_setting_or_the_concurrency_less_one(
    concurrency: int, setting: int, cap: int
) -> None:
    assert owner_cap(concurrency, setting) == cap


def _job(owner: str, priority: Priority = Priority.INTERACTIVE) -> JobEnvelope:
    return JobEnvelope(request=DiagnosticsRequest(), owner=owner, priority=priority)


def test_an_owner_at_the_cap_is_refused_until_one_of_its_jobs_ends() -> None:
    shares = OwnerShares(2)
    first, second = _job("a"), _job("a")
    assert shares.take(first) and shares.take(second)
    assert not shares.take(_job("a"))
    assert shares.take(_job("b")), "another owner has slots of its own"
    shares.release(first)
    assert shares.running("a") == 1
    assert shares.take(_job("a"))


def test_bulk_and_scheduled_jobs_are_not_capped() -> None:
    shares = OwnerShares(1)
    assert shares.take(_job("a"))
    assert all(shares.take(_job("a", Priority.BULK)) for _ in range(5))
    assert shares.take(_job("a", Priority.SCHEDULED))
    assert shares.running("a") == 1
