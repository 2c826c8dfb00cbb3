"""``JobStore``: job records, their transitions and event histories in one Redis namespace."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.events import JobEvent
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobPage, JobRecord, JobState
from conveyor.runtime.jobstore import counting, idempotency, retention, scripts, withdrawal
from conveyor.runtime.jobstore.layout import creation_keys, transition_keys
from conveyor.runtime.jobstore.outcomes import (
    Appended,
    HistoryEntry,
    Started,
    StartStatus,
    Transitioned,
)
from conveyor.runtime.jobstore.records import (
    appended,
    decode_cursor,
    encode_cursor,
    field_value,
    iso,
    record_fields,
    record_from_hash,
    score,
    split_event,
    start_fields,
    text,
)
from conveyor.runtime.script_batcher import ReplicaWait, ScriptBatcher

_SCRIPT_FIELDS = frozenset({"state", "last_seq"})


class JobStore:
    """Job records, their transitions and event histories in one Redis namespace.

    The only reader and writer of the record's keys (see ``layout``); ``redis`` and ``keys``
    stay public for the other stores that share the connection and namespace.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        retention_seconds: int,
        history_max: int = 1000,
        owner_history_max: int = 10_000,
        replica_wait: ReplicaWait | None = None,
    ) -> None:
        """``replica_wait`` (``CONVEYOR_REDIS_WAIT_REPLICAS``): a record's creation and final
        outcome return once replicas acknowledged them, else raise; the other events recorded
        return once acknowledged or marked unreplicated (``Appended.replicated``)."""
        self.redis = redis
        self.keys = keys
        self._retention = retention_seconds
        self._hmax = history_max
        self._omax = owner_history_max
        self._scripts = ScriptBatcher(redis, wait=replica_wait)
        self._create = self._scripts.register(scripts.CREATE, "create")
        self._transition = self._scripts.register(scripts.TRANSITION, "transition")
        self._start = self._scripts.register(scripts.START, "start")
        self._mark_dead_lettered = self._scripts.register(
            scripts.MARK_DEAD_LETTERED, "dead_lettered"
        )
        self._withdraw = self._scripts.register(withdrawal.WITHDRAW, "withdraw")
        # Not batched: one slice is a long call of its own, made by dashboards.
        self._count_created = redis.register_script(scripts.COUNT_CREATED)

    # -- writes --------------------------------------------------------------------------------

    async def create(
        self, envelope: JobEnvelope, event: JobEvent, *, trace_id: str | None
    ) -> Appended | None:
        """Record a queued job; ``None`` if it already exists (e.g. a worker got there first)."""
        outcome = await self.create_or_get(envelope, event, trace_id=trace_id)
        return outcome if isinstance(outcome, Appended) else None

    async def create_or_get(
        self, envelope: JobEnvelope, event: JobEvent, *, trace_id: str | None
    ) -> Appended | JobRecord:
        """Record a queued job, or return the record as it is if it already exists.

        The existing record comes from the same script call, saving a caller that lost the
        race to a worker (common under load) a round trip to read it.
        """
        prefix, suffix = split_event(event)
        res = await self._scripts.call(
            self._create,
            keys=creation_keys(self.keys, envelope.job_id, envelope.owner),
            args=[
                *self._creation_args(envelope, prefix, suffix),
                *record_fields(envelope, trace_id),
            ],
            replicated=True,
        )
        if res[0] == 0:
            flat = res[1]
            return record_from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
        return appended(res[2], res[3], res[4], prefix, suffix)

    async def withdraw(self, envelope: JobEnvelope, cursor: str) -> bool:
        """Take back the queued record a submit made if unchanged (see ``withdrawal``)."""
        return await withdrawal.withdraw(self._scripts, self._withdraw, self.keys, envelope, cursor)

    def _creation_args(self, envelope: JobEnvelope, prefix: bytes, suffix: bytes) -> list[Any]:
        """The leading ARGV of the scripts that may create a record: scores, limits, event."""
        return [
            score(envelope.created_at),
            self._retention,
            self._hmax,
            self._omax,
            prefix,
            suffix,
            envelope.job_id,
        ]

    async def start(
        self,
        envelope: JobEnvelope,
        queued: JobEvent,
        started: JobEvent,
        *,
        worker: str,
        max_crashes: int,
        trace_id: str | None,
        idempotency_ttl: int = 86_400,
    ) -> Started:
        """Mark the envelope's attempt running, creating the record first if it is missing.

        Creating it claims the envelope's idempotency key (for ``idempotency_ttl`` seconds),
        so two envelopes published with one key run once.
        """
        key = envelope.idempotency_key
        q_prefix, q_suffix = split_event(queued)
        s_prefix, s_suffix = split_event(started)
        create_fields = record_fields(envelope, trace_id)
        # Checked, not required: a start no replica took still runs the job (its outcome
        # records it again if a failover lost it); only its events are not announced.
        res, replicated = await self._scripts.call_checked(
            self._start,
            keys=creation_keys(self.keys, envelope.job_id, envelope.owner),
            args=[
                *self._creation_args(envelope, q_prefix, q_suffix),
                envelope.attempt,
                max_crashes,
                s_prefix,
                s_suffix,
                len(create_fields),
                worker,
                self.keys.worker(""),
                iso(envelope.created_at),
                self.keys.idempotency(envelope.owner, key) if key else "",
                idempotency_ttl,
                *create_fields,
                *start_fields(envelope, worker),
            ],
        )
        status = StartStatus(res[0])
        previous = text(res[1])
        if status is StartStatus.FINISHED:
            return Started(status, previous, 0, dead_lettered=bool(text(res[3])))
        if status is StartStatus.DUPLICATE:
            return Started(status, "", 0, duplicate_of=previous)
        if status is StartStatus.ID_IN_USE:
            return Started(status, previous, 0, existing_key=text(res[3]))
        if status is not StartStatus.STARTED:
            return Started(status, previous, int(res[2]))
        seq = int(res[3])
        created = None
        if text(res[6]):
            created = appended(seq - 1, res[6], res[7], q_prefix, q_suffix, replicated=replicated)
        running = appended(seq, res[4], res[5], s_prefix, s_suffix, replicated=replicated)
        return Started(status, previous, int(res[2]), created=created, started=running)

    async def mark_dead_lettered(self, job_id: str) -> None:
        """Note that a failed job's dead letter is published, so a redelivery need not."""
        await self._scripts.call(self._mark_dead_lettered, keys=[self.keys.job(job_id)], args=[])

    async def transition(
        self,
        job_id: str,
        owner: str,
        *,
        allowed: Sequence[JobState],
        to: JobState,
        event: JobEvent,
        fields: dict[str, Any] | None = None,
    ) -> Transitioned:
        """Move the job to ``to`` if its state is in ``allowed``, recording ``event`` with it."""
        if fields and _SCRIPT_FIELDS & fields.keys():
            raise ValueError("a transition's script writes the state and last_seq itself")
        prefix, suffix = split_event(event)
        flat: list[Any] = []
        for name, value in (fields or {}).items():
            flat += [name, field_value(value)]
        if to.is_final or to is JobState.RETRYING:
            flat += ["updated_at", iso(event.at)]
        if to.is_final:
            flat += ["finished_at", iso(event.at)]
        args: list[Any] = [
            " " + " ".join(allowed) + " ",
            to.value,
            self._hmax,
            self._omax,
            prefix,
            suffix,
            job_id,
            self._retention,
            "1" if to.is_final else "0",
            *flat,
        ]
        keys = transition_keys(self.keys, job_id, owner)
        if to.is_final:  # an outcome must be replicated before its message is acked
            res = await self._scripts.call(self._transition, keys, args, replicated=True)
            replicated = True
        else:
            res, replicated = await self._scripts.call_checked(self._transition, keys, args)
        if res[0] != 1:
            return Transitioned(False, text(res[1]) or None)
        recorded = appended(res[2], res[3], res[4], prefix, suffix, replicated=replicated)
        return Transitioned(True, text(res[1]), recorded)

    async def mark_active(self, job_id: str) -> None:
        """Count the job as active again (queued anew after a final state, e.g. a replay)."""
        await self.redis.sadd(self.keys.active_jobs, job_id)

    async def reserve_idempotency_key(
        self, owner: str, key: str, job_id: str, digest: str, *, ttl_seconds: int
    ) -> tuple[str, str] | None:
        """Claim ``key`` for ``job_id``; if it was already claimed return (job id, digest)."""
        return await idempotency.reserve_key(
            self.redis, self.keys, owner, key, job_id, digest, ttl_seconds
        )

    async def release_idempotency_key(self, owner: str, key: str, job_id: str) -> None:
        """Free a claimed key whose job never got queued (only if it still names ``job_id``)."""
        await idempotency.release_key(self.redis, self.keys, owner, key, job_id)

    # -- retention -----------------------------------------------------------------------------

    async def delete_records(self, jobs: Iterable[tuple[str, str]]) -> int:
        """Delete each ``(job id, owner)``'s record, history and index entries; how many were."""
        return await retention.delete_records(self.redis, self.keys, jobs)

    async def purge_created_before(
        self, cutoff_ms: int, on_batch: Callable[[int], None] | None = None
    ) -> retention.Purged:
        """Delete records created before ``cutoff_ms`` except active ones (see ``retention``)."""
        return await retention.purge_created_before(self.redis, self.keys, cutoff_ms, on_batch)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        raw: Any = await self.redis.hgetall(self.keys.job(job_id))
        return record_from_hash(raw) if raw else None

    async def get_many(self, job_ids: Sequence[str]) -> list[JobRecord]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            rows = await pipe.execute()
        return [record_from_hash(row) for row in rows if row]

    async def deaths(self, job_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
        """Job id -> (worker deaths its deliveries saw, whether its dead letter went out)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(self.keys.job(job_id), ["crashes", "dead_lettered"])
            rows = await pipe.execute()
        return {
            job_id: (int(crashes or 0), bool(dead_lettered))
            for job_id, (crashes, dead_lettered) in zip(job_ids, rows, strict=True)
        }

    async def list_jobs(
        self,
        *,
        owner: str | None,
        job_type: str | None = None,
        state: JobState | Collection[JobState] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """Newest first; ``owner=None`` lists every job (admins); ``ValueError`` on a bad cursor.

        ``state`` keeps jobs in that state, or in any of several.

        Filters apply while walking the time index, at most ``20 * limit`` ids per call, so a
        page may hold fewer than ``limit`` jobs while ``next_cursor`` says there may be more.
        """
        index = self.keys.all_jobs if owner is None else self.keys.owner_jobs(owner)
        states = {state} if isinstance(state, JobState) else set(state or ())
        after = decode_cursor(cursor) if cursor else None
        max_score = "+inf" if after is None else str(after[0])
        jobs: list[JobRecord] = []
        batch = max(2 * limit, 20)
        offset = scanned = 0
        last: tuple[int, str] | None = None
        while scanned < 20 * limit:
            rows: Any = await self.redis.zrevrangebyscore(
                index, max_score, "-inf", start=offset, num=batch, withscores=True
            )
            offset += len(rows)
            # Same-millisecond jobs come in reverse id order; resume strictly after the cursor.
            ids = [
                (int(s), job_id)
                for job_id, s in ((text(m), s) for m, s in rows)
                if after is None or (int(s), job_id) < after
            ]
            records = {r.job_id: r for r in await self.get_many([i for _, i in ids])}
            for position in ids:
                scanned += 1
                last = position
                record = records.get(position[1])
                if record is None or (job_type and record.job_type != job_type):
                    continue
                if states and record.state not in states:
                    continue
                jobs.append(record)
                if len(jobs) == limit:
                    return JobPage(jobs=jobs, next_cursor=encode_cursor(*position))
            if len(rows) < batch:
                return JobPage(jobs=jobs, next_cursor=None)
        return JobPage(jobs=jobs, next_cursor=encode_cursor(*last) if last else None)

    async def events_after(
        self, job_id: str, after_seq: int, *, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        """The job's recorded events with ``seq > after_seq``, oldest first."""
        rows: Any = await self.redis.xrange(
            self.keys.job_events(job_id), f"0-{after_seq + 1}", "+", count=limit
        )
        return [(int(text(eid).split("-")[1]), fields[b"e"]) for eid, fields in rows]

    async def owner_events_after(
        self, owner: str, cursor: str, *, limit: int = 1000
    ) -> list[HistoryEntry]:
        """The owner's events recorded after ``cursor`` ("0" for all that are kept)."""
        start = "-" if cursor in ("", "0") else f"({cursor}"
        rows: Any = await self.redis.xrange(self.keys.owner_events(owner), start, "+", count=limit)
        return [HistoryEntry(text(eid), text(f[b"j"]), f[b"e"]) for eid, f in rows]

    async def count_created_slice(
        self,
        since_ms: int,
        until_ms: int,
        *,
        offset: int,
        count: int,
        bucket_ms: int,
        buckets: int,
    ) -> counting.CreatedSlice:
        """Jobs created in ``[since_ms, until_ms]``, newest first from ``offset``, up to
        ``count`` ids, counted by type, current state and ``bucket_ms``-wide time bucket."""
        return await counting.count_created_slice(
            self._count_created,
            self.keys,
            since_ms=since_ms,
            until_ms=until_ms,
            offset=offset,
            count=count,
            bucket_ms=bucket_ms,
            buckets=buckets,
        )

    async def count_created(self, since_ms: int, until_ms: int | str = "+inf") -> int:
        """How many jobs were created in ``[since_ms, until_ms]`` (unix ms)."""
        return int(await self.redis.zcount(self.keys.all_jobs, since_ms, until_ms))

    async def sample_created_types(self, since_ms: int, sample: int) -> tuple[int, list[str]]:
        """Jobs created since ``since_ms``, and the types of the newest ``sample`` of them."""
        return await counting.sample_created_types(self.redis, self.keys, since_ms, sample)

    async def count_active(self) -> int:
        """How many jobs are queued, running or retrying."""
        return int(await self.redis.scard(self.keys.active_jobs))

    async def latest_owner_cursor(self, owner: str) -> str:
        """The cursor of the owner's newest recorded event ("0-0" if none is kept)."""
        rows: Any = await self.redis.xrevrange(self.keys.owner_events(owner), count=1)
        return text(rows[0][0]) if rows else "0-0"
