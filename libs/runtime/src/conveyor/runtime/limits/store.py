"""``LimitStore``: the per-user counters behind the limits, each changed by one atomic script.

- Submit rate: a token bucket per user (``take_submit_token``).
- Jobs in flight: a sorted set of job ids per owner (``admit_job``). The job store's
  transition to a final state (succeeded, failed, cancelled; a dead-lettered job is failed
  first) removes the job in the same script. What that cannot see (a gateway that died
  between admission and publish, a record purged or expired while queued) is reconciled when
  the owner is at the limit: entries whose record is final or gone are dropped and the
  admission is tried again, so no slot leaks for longer than the owner's next submit.
- A submit's checks (its Idempotency-Key's reservation, a token, its in-flight slot) are one
  call (``admit_submission``).
- WebSocket connections: a sorted set of leases per user (``lease_connection``) that each
  connection renews; a gateway that dies stops renewing, and its leases lapse.
- Export bytes kept: a sorted set of the owner's exports and their sizes, each dropped when
  its download expires (``check_export_room``, ``keep_export``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.jobstore.layout import reservation_key
from conveyor.runtime.limits import scripts
from conveyor.runtime.script_batcher import ScriptBatcher

UNRECORDED_GRACE_MS = 120_000
"""An admitted job whose record does not exist yet is not stale until this old: the gateway
admits before it publishes and records, and a record Redis failed to write at the submit is
written by the job's worker when it starts the job."""


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a job was admitted, and how many of its owner's jobs are in flight."""

    admitted: bool
    in_flight: int


@dataclass(frozen=True, slots=True)
class SubmitLimits:
    """A user's submit limits: tokens per second, bucket size, jobs in flight."""

    rate: float
    burst: int
    max_in_flight: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """An Idempotency-Key to reserve for a submit: its request's digest, for how long."""

    key: str
    digest: str
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class SubmitAdmission:
    """A submit's checks. ``held_by``: (job id, digest) of the request that holds the key, when
    another does (nothing else was checked); ``wait``: seconds until a submit token is there
    when the rate refused (``admission`` then admitted nothing, and the key is not reserved)."""

    admission: Admission
    wait: float | None = None
    held_by: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ExportRoom:
    """Whether an export fits the owner's quota, and the bytes the owner kept before it."""

    fits: bool
    kept_bytes: int


class LimitStore:
    """Atomic per-user counters in one Redis namespace (the scripts are in ``scripts``)."""

    def __init__(self, redis: Redis, keys: Keys, store: JobStore, *, retention_seconds: int):
        self.redis = redis
        self.keys = keys
        self._store = store
        self._retention_ms = retention_seconds * 1000
        self._scripts = ScriptBatcher(redis)
        self._take = self._scripts.register(scripts.TAKE_TOKEN, "take_submit_token")
        self._admit = self._scripts.register(scripts.ADMIT_JOB, "admit_job")
        self._admit_submission = self._scripts.register(
            scripts.ADMIT_SUBMISSION, "admit_submission"
        )
        self._lease = self._scripts.register(scripts.LEASE_CONNECTION, "lease_connection")
        self._keep = self._scripts.register(scripts.KEEP_EXPORT, "keep_export")

    async def take_submit_token(self, user: str, *, rate: float, burst: int) -> float | None:
        """Take one submit token; ``None`` if taken, else seconds until one is available."""
        res = await self._scripts.call(self._take, [self.keys.submit_bucket(user)], [rate, burst])
        return None if int(res[0]) == 1 else int(res[1]) / 1000

    async def admit_job(self, owner: str, job_id: str, *, limit: int) -> Admission:
        """Count ``job_id`` in flight unless ``owner`` already has ``limit`` jobs in flight."""
        admission = await self._try_admit(owner, job_id, limit)
        if admission.admitted:
            return admission
        if await self.reconcile(owner) == 0:
            return admission
        return await self._try_admit(owner, job_id, limit)

    async def admit_submission(
        self,
        user: str,
        job_id: str,
        *,
        limits: SubmitLimits | None,
        reservation: Reservation | None = None,
    ) -> SubmitAdmission:
        """Reserve the submit's Idempotency-Key, take a submit token, count ``job_id`` in
        flight: each only if the one before passed, in one round trip. ``limits=None`` (an
        admin) only reserves. The key is ``JobStore.reserve_idempotency_key``'s, with its value
        (``<job id> <digest>``), so the worker's ``START`` honours either.
        """
        if limits is None and reservation is None:
            return SubmitAdmission(Admission(True, 0))
        res = await self._scripts.call(
            self._admit_submission,
            [
                self.keys.submit_bucket(user),
                self.keys.jobs_in_flight(user),
                reservation_key(self.keys, user, reservation.key if reservation else ""),
            ],
            [
                "" if limits is None else limits.rate,
                0 if limits is None else limits.burst,
                job_id,
                0 if limits is None else limits.max_in_flight,
                self._retention_ms,
                f"{job_id} {reservation.digest}" if reservation else "",
                reservation.ttl_seconds if reservation else 0,
            ],
        )
        status = int(res[0])
        if status == 2:
            holder, _, digest = _text(res[1]).partition(" ")
            return SubmitAdmission(Admission(False, 0), held_by=(holder, digest))
        if status == 0:
            return SubmitAdmission(Admission(False, 0), wait=int(res[1]) / 1000)
        admission = Admission(int(res[1]) == 1, int(res[2]))
        if admission.admitted or limits is None or await self.reconcile(user) == 0:
            return SubmitAdmission(admission)
        return SubmitAdmission(await self._try_admit(user, job_id, limits.max_in_flight))

    async def _try_admit(self, owner: str, job_id: str, limit: int) -> Admission:
        key = self.keys.jobs_in_flight(owner)
        res = await self._scripts.call(self._admit, [key], [job_id, limit, self._retention_ms])
        return Admission(int(res[0]) == 1, int(res[1]))

    async def release_job(self, owner: str, job_id: str) -> None:
        """Stop counting ``job_id`` (e.g. its publish failed, so it never ran)."""
        await self.redis.zrem(self.keys.jobs_in_flight(owner), job_id)

    async def reconcile(self, owner: str) -> int:
        """Drop the owner's in-flight entries whose job finished or vanished; how many went."""
        key = self.keys.jobs_in_flight(owner)
        rows: Any = await self.redis.zrange(key, 0, -1, withscores=True)
        if not rows:
            return 0
        ids = [_text(member) for member, _ in rows]
        records = {r.job_id: r for r in await self._store.get_many(ids)}
        now_ms: Any = await self.redis.time()
        cutoff = int(now_ms[0]) * 1000 - UNRECORDED_GRACE_MS
        stale = []
        for job_id, (_, score) in zip(ids, rows, strict=True):
            record = records.get(job_id)
            if (record is None and score < cutoff) or (record and record.state.is_final):
                stale.append(job_id)
        if stale:
            await self.redis.zrem(key, *stale)
        return len(stale)

    async def in_flight(self, owner: str) -> int:
        """Jobs counted in flight for ``owner`` (finished ones until the next reconcile)."""
        return int(await self.redis.zcard(self.keys.jobs_in_flight(owner)))

    async def lease_connection(
        self, user: str, connection: str, *, limit: int, lease_seconds: float
    ) -> bool:
        """Hold (or renew, with ``limit=0``) a connection lease; ``False`` when at the limit."""
        res = await self._scripts.call(
            self._lease,
            [self.keys.connections(user)],
            [connection, limit, max(1, round(lease_seconds * 1000))],
        )
        return int(res) == 1

    async def release_connection(self, user: str, connection: str) -> None:
        await self.redis.zrem(self.keys.connections(user), connection)

    async def connections(self, user: str) -> int:
        """Leases held by ``user``, expired ones included until the next lease."""
        return int(await self.redis.zcard(self.keys.connections(user)))

    async def check_export_room(self, owner: str, *, quota: int) -> ExportRoom:
        """Whether ``owner`` keeps less than ``quota`` bytes of exports now."""
        return await self._keep_call(owner, "", 0, quota, dt.timedelta(0))

    async def keep_export(
        self, owner: str, job_id: str, size_bytes: int, *, quota: int, ttl: dt.timedelta
    ) -> ExportRoom:
        """Count a finished export for ``ttl`` unless it would take ``owner`` past ``quota``."""
        return await self._keep_call(owner, job_id, size_bytes, quota, ttl)

    async def _keep_call(
        self, owner: str, job_id: str, size: int, quota: int, ttl: dt.timedelta
    ) -> ExportRoom:
        ttl_ms = max(1, int(ttl.total_seconds() * 1000)) if ttl else 0
        res = await self._scripts.call(
            self._keep, [self.keys.kept_exports(owner)], [job_id, size, quota, ttl_ms]
        )
        return ExportRoom(int(res[0]) == 1, int(res[1]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
