"""``LimitStore`` on the real Redis: buckets refill, leases lapse, stale slots are reconciled."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobCancelled, JobQueued
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.limits import (
    Admission,
    LimitStore,
    Reservation,
    SubmitAdmission,
    SubmitLimits,
)
from conveyor.runtime.limits.store import UNRECORDED_GRACE_MS


@pytest.fixture
def limits(redis: Redis, keys: Keys, store: JobStore) -> LimitStore:
    return LimitStore(redis, keys, store, retention_seconds=3600)


def _user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


async def test_a_bucket_gives_its_burst_then_tokens_at_the_rate(limits: LimitStore) -> None:
    user = _user()
    taken = [await limits.take_submit_token(user, rate=20, burst=3) for _ in range(3)]
    assert taken == [None, None, None]
    wait = await limits.take_submit_token(user, rate=20, burst=3)
    assert wait is not None and 0 < wait <= 0.05
    await asyncio.sleep(wait)
    assert await limits.take_submit_token(user, rate=20, burst=3) is None


async def test_concurrent_admissions_never_pass_the_limit(limits: LimitStore) -> None:
    owner = _user()
    results = await asyncio.gather(
        *(limits.admit_job(owner, f"job-{i}", limit=5) for i in range(40))
    )
    assert sum(r.admitted for r in results) == 5
    assert await limits.in_flight(owner) == 5
    # Admitting the same job again is not a second slot.
    assert (await limits.admit_job(owner, "job-0", limit=5)).admitted


async def test_a_final_transition_frees_the_slot_and_vanished_jobs_are_reconciled(
    limits: LimitStore, redis: Redis, keys: Keys, store: JobStore
) -> None:
    owner = _user()
    done = JobEnvelope(request=DiagnosticsRequest(), owner=owner)
    assert (await limits.admit_job(owner, done.job_id, limit=3)).admitted
    queued = JobQueued(job_id=done.job_id, job_type="diagnostics", owner=owner)
    await store.create(done, queued, trace_id=None)
    cancelled = JobCancelled(job_id=done.job_id, job_type="diagnostics", owner=owner, reason="t")
    changed = await store.transition(
        done.job_id, owner, allowed=[JobState.QUEUED], to=JobState.CANCELLED, event=cancelled
    )
    assert changed.ok
    assert await limits.in_flight(owner) == 0, "the final transition removed it"
    # Left behind anyway (say, counted again by a gateway racing the transition): the finished
    # job; a job admitted long ago whose record never appeared (its gateway died mid-submit);
    # and one admitted just now whose record is still on its way.
    old = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - UNRECORDED_GRACE_MS - 1000
    await redis.zadd(keys.jobs_in_flight(owner), {"lost-job": old, done.job_id: old})
    assert (await limits.admit_job(owner, "fresh-job", limit=3)).admitted
    assert await limits.in_flight(owner) == 3
    # At the limit: the finished and the lost job are dropped, the fresh one kept.
    admission = await limits.admit_job(owner, "next-job", limit=3)
    assert admission.admitted
    members = {m.decode() for m in await redis.zrange(keys.jobs_in_flight(owner), 0, -1)}
    assert members == {"fresh-job", "next-job"}


LIMITS = SubmitLimits(rate=20, burst=3, max_in_flight=2)


async def test_a_submits_checks_take_a_token_then_admit_as_the_two_calls_did(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    user = _user()

    async def submit(job_id: str) -> SubmitAdmission:
        return await limits.admit_submission(user, job_id, limits=LIMITS)

    first, second = await submit("a"), await submit("b")
    assert first == SubmitAdmission(Admission(True, 1))
    assert second == SubmitAdmission(Admission(True, 2))
    # At the in-flight limit (both just admitted, so not stale): refused, its token spent.
    assert await submit("c") == SubmitAdmission(Admission(False, 2))
    # Out of tokens: refused by the rate, and nothing is counted in flight.
    limited = await submit("d")
    assert limited.wait is not None and 0 < limited.wait <= 0.05
    assert not limited.admission.admitted
    members = {m.decode() for m in await redis.zrange(keys.jobs_in_flight(user), 0, -1)}
    assert members == {"a", "b"}
    # The same bucket as take_submit_token's: one refill later, one token.
    await asyncio.sleep(limited.wait)
    assert await limits.take_submit_token(user, rate=20, burst=3) is None
    assert await limits.take_submit_token(user, rate=20, burst=3) is not None


async def test_a_submit_at_the_limit_reconciles_finished_slots_and_is_admitted(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    user = _user()
    old = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - UNRECORDED_GRACE_MS - 1000
    await redis.zadd(keys.jobs_in_flight(user), {"lost-1": old, "lost-2": old})
    checked = await limits.admit_submission(user, "next", limits=LIMITS)
    assert checked == SubmitAdmission(Admission(True, 1))


async def test_a_submits_key_is_reserved_first_and_a_held_key_checks_nothing_else(
    limits: LimitStore, store: JobStore, redis: Redis, keys: Keys
) -> None:
    user = _user()
    reservation = Reservation("k", "d1", ttl_seconds=60)
    first = await limits.admit_submission(user, "job-1", limits=LIMITS, reservation=reservation)
    assert first == SubmitAdmission(Admission(True, 1))
    assert await redis.get(keys.idempotency(user, "k")) == b"job-1 d1"
    assert 0 < await redis.ttl(keys.idempotency(user, "k")) <= 60
    # The same value as the job store's reservation: a second request finds the first.
    assert await store.reserve_idempotency_key(user, "k", "job-9", "d9", ttl_seconds=60) == (
        "job-1",
        "d1",
    )
    again = await limits.admit_submission(
        user, "job-2", limits=LIMITS, reservation=Reservation("k", "d2", ttl_seconds=60)
    )
    assert again == SubmitAdmission(Admission(False, 0), held_by=("job-1", "d1"))
    # Nothing taken or counted for it: two tokens of three are left, one slot of two.
    assert await limits.in_flight(user) == 1
    # A call sent again (its first SET landed) finds its own reservation, not a holder.
    retried = await limits.admit_submission(user, "job-1", limits=LIMITS, reservation=reservation)
    assert retried == SubmitAdmission(Admission(True, 1))


async def test_a_rate_refusal_frees_the_key_it_reserved_an_in_flight_one_keeps_it(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    user = _user()
    one = SubmitLimits(rate=0.01, burst=1, max_in_flight=1)
    assert (await limits.admit_submission(user, "job-1", limits=one)).admission.admitted
    limited = await limits.admit_submission(
        user, "job-2", limits=one, reservation=Reservation("k", "d", ttl_seconds=60)
    )
    assert limited.wait is not None
    assert await redis.exists(keys.idempotency(user, "k")) == 0
    # Another user at the in-flight limit (a fresh slot: not reconciled away): the key stays.
    other = _user()
    one_slot = SubmitLimits(rate=20, burst=3, max_in_flight=1)
    assert (await limits.admit_submission(other, "job-3", limits=one_slot)).admission.admitted
    full = await limits.admit_submission(
        other, "job-4", limits=one_slot, reservation=Reservation("k", "d", ttl_seconds=60)
    )
    assert full == SubmitAdmission(Admission(False, 1))
    assert await redis.get(keys.idempotency(other, "k")) == b"job-4 d"  # the caller frees it


async def test_an_admin_submit_only_reserves_its_key(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    user = _user()
    assert await limits.admit_submission(user, "job-1", limits=None) == SubmitAdmission(
        Admission(True, 0)
    )
    reserved = await limits.admit_submission(
        user, "job-1", limits=None, reservation=Reservation("k", "d", ttl_seconds=60)
    )
    assert reserved.admission.admitted and reserved.held_by is None
    assert await redis.get(keys.idempotency(user, "k")) == b"job-1 d"
    assert await redis.exists(keys.submit_bucket(user), keys.jobs_in_flight(user)) == 0


async def test_connection_leases_are_capped_and_lapse_when_not_renewed(
    limits: LimitStore,
) -> None:
    user = _user()
    assert await limits.lease_connection(user, "a", limit=2, lease_seconds=0.2)
    assert await limits.lease_connection(user, "b", limit=2, lease_seconds=30)
    assert not await limits.lease_connection(user, "c", limit=2, lease_seconds=30)
    # "a"'s gateway died: nobody renews it, and after its lease the slot is free again.
    await asyncio.sleep(0.25)
    assert await limits.lease_connection(user, "c", limit=2, lease_seconds=30)
    await limits.release_connection(user, "b")
    assert await limits.lease_connection(user, "d", limit=2, lease_seconds=30)


async def test_kept_export_bytes_are_capped_and_expire_with_their_downloads(
    limits: LimitStore,
) -> None:
    owner = _user()
    hour = dt.timedelta(hours=1)
    assert (await limits.keep_export(owner, "j1", 600, quota=1000, ttl=hour)).fits
    refused = await limits.keep_export(owner, "j2", 500, quota=1000, ttl=hour)
    assert (refused.fits, refused.kept_bytes) == (False, 600)
    assert (await limits.check_export_room(owner, quota=1000)).fits
    brief = dt.timedelta(seconds=0.2)
    assert (await limits.keep_export(owner, "j3", 400, quota=1000, ttl=brief)).fits
    full = await limits.check_export_room(owner, quota=1000)
    assert (full.fits, full.kept_bytes) == (False, 1000)
    await asyncio.sleep(0.25)  # j3's download expired
    assert (await limits.check_export_room(owner, quota=1000)).kept_bytes == 600
