"""Reserving and releasing an owner's Idempotency-Key (the gateway's side of deduplication)."""

from __future__ import annotations

from conveyor.runtime.jobstore import JobStore, StartStatus
from tests.runtime.jobstore.support import envelope, new_owner, start


async def test_the_first_reservation_wins_and_later_ones_see_it(store: JobStore) -> None:
    owner = new_owner()
    assert await store.reserve_idempotency_key(owner, "k", "job-1", "d1", ttl_seconds=60) is None
    again = await store.reserve_idempotency_key(owner, "k", "job-2", "d2", ttl_seconds=60)
    assert again == ("job-1", "d1")
    # Keys are per owner.
    other = await store.reserve_idempotency_key(new_owner(), "k", "job-3", "d3", ttl_seconds=60)
    assert other is None


async def test_a_reservation_sent_again_finds_itself_not_a_conflict(store: JobStore) -> None:
    # A command retried after its connection failed (the SET had landed, e.g. just before a
    # Redis failover) must not take the job's own reservation for another request's.
    owner = new_owner()
    assert await store.reserve_idempotency_key(owner, "k", "job-1", "d1", ttl_seconds=60) is None
    assert await store.reserve_idempotency_key(owner, "k", "job-1", "d1", ttl_seconds=60) is None
    assert await store.reserve_idempotency_key(owner, "k", "job-2", "d1", ttl_seconds=60) == (
        "job-1",
        "d1",
    )


async def test_releasing_frees_the_key_only_for_the_job_that_holds_it(store: JobStore) -> None:
    owner = new_owner()
    await store.reserve_idempotency_key(owner, "k", "job-1", "d1", ttl_seconds=60)
    await store.release_idempotency_key(owner, "k", "job-2")
    assert await store.reserve_idempotency_key(owner, "k", "job-2", "d2", ttl_seconds=60) == (
        "job-1",
        "d1",
    )
    await store.release_idempotency_key(owner, "k", "job-1")
    assert await store.reserve_idempotency_key(owner, "k", "job-2", "d2", ttl_seconds=60) is None


async def test_a_key_reserved_by_the_gateway_makes_another_envelope_a_duplicate(
    store: JobStore,
) -> None:
    owner = new_owner()
    reserved = envelope(owner, idempotency_key="k")
    await store.reserve_idempotency_key(owner, "k", reserved.job_id, "d", ttl_seconds=60)
    # The reserving job's own start goes ahead; another envelope with the key does not.
    assert (await start(store, reserved)).status is StartStatus.STARTED
    outcome = await start(store, envelope(owner, idempotency_key="k"))
    assert (outcome.status, outcome.duplicate_of) == (StartStatus.DUPLICATE, reserved.job_id)
