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
from conveyor.runtime.limits import Admission, LimitStore
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


async def test_a_submission_takes_a_token_then_a_slot_in_one_call(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    owner = _user()
    first = await limits.admit_submission(owner, "job-1", rate=1, burst=3, limit=1)
    assert first == Admission(admitted=True, in_flight=1)
    # At the jobs-in-flight limit: refused, and the token is spent all the same (as when the
    # two were asked in turn), so a client hammering at the limit still meets the rate limit.
    second = await limits.admit_submission(owner, "job-2", rate=1, burst=3, limit=1)
    assert second == Admission(admitted=False, in_flight=1)
    # The same job admitted again (a retried submit) holds its slot, and takes a token.
    again = await limits.admit_submission(owner, "job-1", rate=1, burst=3, limit=1)
    assert again == Admission(admitted=True, in_flight=1)
    assert await limits.in_flight(owner) == 1
    # Three tokens taken: the fourth submission waits about a second and counts nothing.
    wait = await limits.admit_submission(owner, "job-3", rate=1, burst=3, limit=5)
    assert isinstance(wait, float) and 0 < wait <= 1
    members = {m.decode() for m in await redis.zrange(keys.jobs_in_flight(owner), 0, -1)}
    assert members == {"job-1"}
    assert 0 < await redis.pttl(keys.jobs_in_flight(owner)) <= 3_600_000


async def test_a_submission_at_the_limit_reconciles_finished_jobs_first(
    limits: LimitStore, redis: Redis, keys: Keys
) -> None:
    owner = _user()
    old = int(dt.datetime.now(dt.UTC).timestamp() * 1000) - UNRECORDED_GRACE_MS - 1000
    await redis.zadd(keys.jobs_in_flight(owner), {"lost-job": old})
    admission = await limits.admit_submission(owner, "next-job", rate=100, burst=10, limit=1)
    assert admission == Admission(admitted=True, in_flight=1)
    members = {m.decode() for m in await redis.zrange(keys.jobs_in_flight(owner), 0, -1)}
    assert members == {"next-job"}


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
