"""One firing of a schedule: claim (schedule, fire time) once, then queue an ordinary job.

The claim is a Redis key per (schedule, fire time) set only while the lock still names this
leader (fencing), so however leaders come and go a fire time is claimed once. The claim also
lists the firing as pending until its job is queued; should a leader die between claiming and
publishing (or the broker refuse the publish), the leader's next sync (or its successor's)
re-queues it. The job id is derived from the (schedule, fire time) pair, so a re-queued firing
keeps its id and the job record stays one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
import logging
import time

from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from conveyor.contracts.jobs import SCHEDULER_OWNER, JobEnvelope, Priority, utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.schedules import Schedule, ScheduleRun
from conveyor.maintenance.leadership import LeaderLock
from conveyor.runtime.broker import BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.schedule_store import ScheduleStore
from conveyor.runtime.telemetry import inject_headers, tracer

log = logging.getLogger(__name__)

PUBLISH_ATTEMPTS = 3

# KEYS: leader lock, firing claim, run-state hash, pending firings
# ARGV: leader value, claim value, claim ttl (s), "<name>:fired", fire time (unix s), pending member
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, ''} end
local current = redis.call('GET', KEYS[2])
if current then return {0, current} end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
local fired = tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0')
if fired < tonumber(ARGV[5]) then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
return {1, ''}
"""
# KEYS: leader lock, firing claim; ARGV: leader value, new claim value, claim ttl (s)
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""


class Fired(enum.Enum):
    QUEUED = "queued"
    ALREADY = "already"
    """Another leader claimed this fire time before (and its job exists)."""
    NOT_LEADER = "not_leader"
    FAILED = "failed"


def firing_job_id(name: str, fire_time: dt.datetime) -> str:
    digest = hashlib.sha256(f"{name}|{_utc_iso(fire_time)}".encode()).hexdigest()
    return f"sched-{digest[:32]}"


def firing_idempotency_key(name: str, fire_time: dt.datetime) -> str:
    return f"schedule:{name}:{_utc_iso(fire_time)}"


class ScheduleFirer:
    """Queues the job of a schedule's fire time, at most once per (schedule, fire time)."""

    def __init__(
        self,
        *,
        redis: Redis,
        keys: Keys,
        lifecycle: JobLifecycle,
        job_store: JobStore,
        schedules: ScheduleStore,
        lock: LeaderLock,
        claim_ttl: int,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._lifecycle = lifecycle
        self._jobs = job_store
        self._schedules = schedules
        self._lock = lock
        self._claim_ttl = claim_ttl
        self._in_flight: set[str] = set()
        """Job ids this instance is queueing now: pending, but not left behind."""

    async def fire(self, schedule: Schedule, fire_time: dt.datetime) -> Fired:
        leader = self._lock.value
        if leader is None:
            return Fired.NOT_LEADER
        name = schedule.name
        job_id = firing_job_id(name, fire_time)
        claim_key = self._keys.schedule_firing(name, _utc_iso(fire_time))
        claim = f"{job_id} {self._lock.fence}"
        status, current = await self._redis.eval(
            _CLAIM, 4, self._keys.scheduler_leader, claim_key, self._keys.schedule_runs,
            self._keys.schedule_pending_firings,
            leader, claim, self._claim_ttl, f"{name}:fired", fire_time.timestamp(),
            _pending_member(name, fire_time),
        )  # fmt: skip
        if status == -1:
            log.warning("not firing %s at %s: no longer the leader", name, fire_time)
            return Fired.NOT_LEADER
        if status == 0 and not await self._claimer_died_before_queueing(current, job_id):
            log.info("%s at %s was already fired", name, fire_time)
            return Fired.ALREADY
        if status == 0:
            if not await self._take_over(claim_key, leader, claim):
                return Fired.NOT_LEADER
            log.warning("re-queueing %s at %s: the leader that claimed it died", name, fire_time)
        return await self._queue(schedule, fire_time, job_id)

    async def recover_pending(self, schedules: dict[str, Schedule]) -> list[Fired]:
        """Queue the firings claimed earlier and never queued (dead leader, refused publish).

        Each gets one publish attempt here; one that fails stays pending for the next sync.
        """
        leader = self._lock.value
        if leader is None:
            return []
        pending = self._keys.schedule_pending_firings
        due = await self._redis.zrangebyscore(pending, "-inf", time.time())
        outcomes: list[Fired] = []
        for raw in due:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            iso, _, name = member.partition("|")
            fire_time = dt.datetime.fromisoformat(iso)
            job_id = firing_job_id(name, fire_time)
            if job_id in self._in_flight:
                continue
            schedule = schedules.get(name)
            if schedule is None or await self._jobs.get(job_id) is not None:
                await self._redis.zrem(pending, member)  # deleted, or queued after all
                continue
            claim_key = self._keys.schedule_firing(name, iso)
            if not await self._take_over(claim_key, leader, f"{job_id} {self._lock.fence}"):
                return outcomes
            log.warning("re-queueing %s at %s: claimed but never queued", name, fire_time)
            outcomes.append(await self._queue(schedule, fire_time, job_id, attempts=1))
        return outcomes

    async def _take_over(self, claim_key: str, leader: str, claim: str) -> bool:
        taken = await self._redis.eval(
            _TAKE_OVER, 2, self._keys.scheduler_leader, claim_key, leader, claim, self._claim_ttl
        )
        return bool(taken)

    async def _claimer_died_before_queueing(self, current: bytes, job_id: str) -> bool:
        _, _, fence = current.decode().partition(" ")
        if int(fence or 0) >= self._lock.fence:
            return False  # claimed in this leadership term: that firing is in hand
        return await self._jobs.get(job_id) is None

    async def _queue(
        self, schedule: Schedule, fire_time: dt.datetime, job_id: str, *, attempts: int = 0
    ) -> Fired:
        self._in_flight.add(job_id)
        try:
            return await self._publish(schedule, fire_time, job_id, attempts or PUBLISH_ATTEMPTS)
        finally:
            self._in_flight.discard(job_id)

    async def _publish(
        self, schedule: Schedule, fire_time: dt.datetime, job_id: str, attempts: int
    ) -> Fired:
        with tracer.start_as_current_span(
            f"schedule {schedule.name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "conveyor.schedule": schedule.name,
                "conveyor.scheduled_for": _utc_iso(fire_time),
                "conveyor.job_id": job_id,
            },
        ):
            envelope = JobEnvelope(
                request=schedule.request,
                job_id=job_id,
                owner=SCHEDULER_OWNER,
                priority=Priority.SCHEDULED,
                max_attempts=schedule.max_attempts,
                idempotency_key=firing_idempotency_key(schedule.name, fire_time),
                trace_context=inject_headers({}),
            )
            for attempt in range(1, attempts + 1):
                try:
                    await self._lifecycle.submit(envelope)
                    break
                except BrokerUnavailableError as exc:
                    log.warning("firing %s: publish attempt %d failed: %s", job_id, attempt, exc)
                    if attempt == attempts:
                        # The claim and the pending entry stay: a later sync queues it under
                        # the same job id; the error is in the log and the run state.
                        log.error("%s at %s not queued yet", schedule.name, fire_time)
                        run = ScheduleRun(
                            job_id=job_id, at=utcnow(), scheduled_for=fire_time, error=str(exc)
                        )
                        await self._schedules.record_run(schedule.name, run)
                        return Fired.FAILED
                    await asyncio.sleep(attempt)
        await self._redis.zrem(
            self._keys.schedule_pending_firings, _pending_member(schedule.name, fire_time)
        )
        await self._schedules.record_run(
            schedule.name, ScheduleRun(job_id=job_id, at=utcnow(), scheduled_for=fire_time)
        )
        log.info("fired %s for %s as job %s", schedule.name, fire_time, job_id)
        return Fired.QUEUED


def _pending_member(name: str, fire_time: dt.datetime) -> str:
    return f"{_utc_iso(fire_time)}|{name}"  # an ISO time has no "|"; a name may


def _utc_iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")
