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
from conveyor.runtime.limits import Admission, LimitStore, SubmitAdmission
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


async def test_a_submits_checks_take_a_token_then_admit_as_the_two_calls_did(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    user = _user()

    async def submit(job_id: str) -> SubmitAdmission:
        return await limits.admit_submission(user, job_id, rate=20, burst=3, limit=2)

    first, second = await submit("a"), await submit("b")
    assert (first.wait, first.admission) == (None, Admission(True, 1))
    assert (second.wait, second.admission) == (None, Admission(True, 2))
    # At the in-flight limit (both just admitted, so not stale): refused, its token spent.
    full = await submit("c")
    assert (full.wait, full.admission) == (None, Admission(False, 2))
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
    checked = await limits.admit_submission(user, "next", rate=20, burst=3, limit=2)
    assert (checked.wait, checked.admission) == (None, Admission(True, 1))


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
