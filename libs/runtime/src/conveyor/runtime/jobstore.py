"""Job records and event history in Redis, changed only by atomic Lua transitions.

A job is a hash (``Keys.job``). Every transition checks the current state, writes the new
fields, assigns the next ``seq`` and appends the event to the job's stream (entry id ``0-<seq>``,
so ``XRANGE`` by seq is direct) and to its owner's stream (whose entry id is the cursor of an
"all my jobs" subscription) in one script: a state change and its event can never diverge, and
of two racing transitions (cancel vs finish) exactly one wins.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.errors import JobError
from conveyor.contracts.events import JobEvent
from conveyor.contracts.jobs import JobEnvelope, utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobPage, JobRecord, JobState, Progress
from conveyor.runtime.script_batcher import ScriptBatcher
from conveyor.runtime.telemetry import redis_span

_APPEND_EVENT = """
local function append_event(job_key, job_events, owner_events, prefix, suffix, hmax, omax,
                            job_id, ttl)
  local seq = redis.call('HINCRBY', job_key, 'last_seq', 1)
  local body = prefix .. seq .. suffix
  redis.call('XADD', job_events, 'MAXLEN', '~', hmax, '0-' .. seq, 'e', body)
  local last = redis.call('XREVRANGE', owner_events, '+', '-', 'COUNT', 1)
  local prev = '0-0'
  if #last > 0 then prev = last[1][1] end
  local cursor = redis.call('XADD', owner_events, 'MAXLEN', '~', omax, '*', 'j', job_id, 'e', body)
  redis.call('EXPIRE', owner_events, ttl)
  return {seq, cursor, prev}
end
"""

# KEYS: job, job_events, owner_jobs, all_jobs, active, owner_events
# ARGV: score_ms, retention_s, hmax, omax, prefix, suffix, job_id, field, value, ...
_CREATE = (
    _APPEND_EVENT
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'state'), redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
local r = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[7])
redis.call('SADD', KEYS[5], ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {1, 'queued', r[1], r[2], r[3]}
"""
)

# KEYS: job, job_events, active, owner_events, owner's jobs in flight (see LimitStore)
# ARGV: allowed (" a b "), new_state, hmax, omax, prefix, suffix, job_id, retention_s, final,
#       field, value, ...
_TRANSITION = (
    _APPEND_EVENT
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1, ''} end
if not string.find(ARGV[1], ' ' .. state .. ' ', 1, true) then return {0, state} end
if #ARGV > 9 then redis.call('HSET', KEYS[1], unpack(ARGV, 10)) end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
local r = append_event(KEYS[1], KEYS[2], KEYS[4],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[8])
if ARGV[9] == '1' then
  redis.call('SREM', KEYS[3], ARGV[7])
  redis.call('ZREM', KEYS[5], ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, state, r[1], r[2], r[3]}
"""
)

# KEYS: job, job_events, owner_jobs, all_jobs, active, owner_events
# ARGV: score_ms, retention_s, hmax, omax, q_prefix, q_suffix, job_id,
#       attempt, max_crashes, s_prefix, s_suffix, n_create_fields, worker, heartbeat key prefix,
#       created_at, idempotency key name ('' if none), its ttl, create fields..., start fields...
# (Two key names travel in ARGV, built or chosen here; fine on a single Redis or Sentinel.)
_START = (
    _APPEND_EVENT
    + """
local state = redis.call('HGET', KEYS[1], 'state')
local n = tonumber(ARGV[12])
local c = {'', ''}
if state and redis.call('HGET', KEYS[1], 'created_at') ~= ARGV[15] then
  -- Another envelope under this id: redeliveries and retries keep the job's creation time.
  return {6, state, 0, redis.call('HGET', KEYS[1], 'idempotency_key') or ''}
end
if not state then
  local claim = ARGV[16]
  if claim ~= '' and not redis.call('SET', claim, ARGV[7] .. ' amqp', 'NX', 'EX', ARGV[17]) then
    local holder = string.match(redis.call('GET', claim) or '', '^%S+')
    if holder and holder ~= ARGV[7] then return {5, holder, 0} end
  end
  redis.call('HSET', KEYS[1], unpack(ARGV, 18, 17 + n))
  local q = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
  c = {q[2], q[3]}
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[7])
  redis.call('ZADD', KEYS[4], ARGV[1], ARGV[7])
  redis.call('SADD', KEYS[5], ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  state = 'queued'
end
if tonumber(ARGV[8]) < tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1') then
  return {2, state, 0}
end
if state == 'succeeded' or state == 'failed' or state == 'cancelled' then
  return {0, state, 0, redis.call('HGET', KEYS[1], 'dead_lettered') or ''}
end
local crashes = 0
if state == 'running' then
  -- Running on a worker whose heartbeat lives: a redelivery after that worker's connection
  -- dropped, not a crash. (The key is built here: its name is in the record.)
  local holder = redis.call('HGET', KEYS[1], 'worker')
  if holder and holder ~= ARGV[13] and redis.call('EXISTS', ARGV[14] .. holder) == 1 then
    return {4, state, tonumber(redis.call('HGET', KEYS[1], 'crashes') or '0')}
  end
  crashes = redis.call('HINCRBY', KEYS[1], 'crashes', 1)
  if crashes >= tonumber(ARGV[9]) then return {3, state, crashes} end
end
redis.call('HSET', KEYS[1], 'state', 'running', unpack(ARGV, 18 + n))
local r = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[10], ARGV[11], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
return {1, state, crashes, r[1], r[2], r[3], c[1], c[2]}
"""
)

# KEYS: job. Only on a record that still exists: a purged one is not brought back bare.
_MARK_DEAD_LETTERED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'dead_lettered', '1')
return 1
"""

_SEQ_MARK = b'"seq":1'


class StartStatus(enum.Enum):
    STARTED = 1
    FINISHED = 0
    """The job is already succeeded, failed or cancelled: skip it."""
    STALE = 2
    """The message is an older attempt than the record's (a duplicate): skip it."""
    CRASHED_TOO_OFTEN = 3
    """Workers died during this job too often: dead-letter it."""
    RUNNING_ELSEWHERE = 4
    """Another worker, alive by its heartbeat, runs this attempt: hold the message."""
    DUPLICATE = 5
    """Another job of the owner has this envelope's idempotency key: skip it."""
    ID_IN_USE = 6
    """The job id names another envelope's job (its record has another creation time)."""


@dataclass(frozen=True, slots=True)
class Appended:
    """An event as recorded: its seq, its owner-stream cursor and its JSON (seq filled in).

    ``prev_cursor`` is the owner-stream entry just before this one ("0-0" if none): a reader
    that delivered up to ``prev_cursor`` can deliver this event without looking for a gap.
    """

    seq: int
    cursor: str
    prev_cursor: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Started:
    status: StartStatus
    previous_state: str
    crashes: int
    dead_lettered: bool = False
    """For a finished job: whether its dead letter was published (see ``mark_dead_lettered``)."""
    duplicate_of: str = ""
    """For ``DUPLICATE``: the job that has the idempotency key."""
    existing_key: str = ""
    """For ``ID_IN_USE``: the idempotency key of the job that has the id ("" if none)."""
    created: Appended | None = None
    """The ``job.queued`` event, when this start also created the record."""
    started: Appended | None = None


@dataclass(frozen=True, slots=True)
class Transitioned:
    """Outcome of a transition: ``ok`` if it applied; ``previous_state`` either way."""

    ok: bool
    previous_state: str | None
    event: Appended | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    cursor: str
    job_id: str
    body: bytes


class JobStore:
    """Job records, their transitions and event histories in one Redis namespace."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        retention_seconds: int,
        history_max: int = 1000,
        owner_history_max: int = 10_000,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self._retention = retention_seconds
        self._hmax = history_max
        self._omax = owner_history_max
        self._scripts = ScriptBatcher(redis)
        self._create = self._scripts.register(_CREATE, "create")
        self._transition = self._scripts.register(_TRANSITION, "transition")
        self._start = self._scripts.register(_START, "start")
        self._mark_dead_lettered = self._scripts.register(_MARK_DEAD_LETTERED, "dead_lettered")

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
        prefix, suffix = _split_event(event)
        res = await self._scripts.call(
            self._create,
            keys=self._creation_keys(envelope),
            args=[
                *self._creation_args(envelope, prefix, suffix),
                *_record_fields(envelope, trace_id),
            ],
        )
        if res[0] == 0:
            flat = res[2]
            return _record_from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
        return _appended(res[2], res[3], res[4], prefix, suffix)

    def _creation_keys(self, envelope: JobEnvelope) -> list[str]:
        """The keys of the scripts that may create a job's record (create and start)."""
        k = self.keys
        return [
            k.job(envelope.job_id),
            k.job_events(envelope.job_id),
            k.owner_jobs(envelope.owner),
            k.all_jobs,
            k.active_jobs,
            k.owner_events(envelope.owner),
        ]

    def _creation_args(self, envelope: JobEnvelope, prefix: bytes, suffix: bytes) -> list[Any]:
        """The leading arguments of those scripts: scores, limits and the queued event."""
        return [
            _score(envelope.created_at),
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
        q_prefix, q_suffix = _split_event(queued)
        s_prefix, s_suffix = _split_event(started)
        create_fields = _record_fields(envelope, trace_id)
        now = _iso(utcnow())
        start_fields: list[Any] = [
            "attempt",
            envelope.attempt,
            "worker",
            worker,
            "started_at",
            now,
            "updated_at",
            now,
        ]
        res = await self._scripts.call(
            self._start,
            keys=self._creation_keys(envelope),
            args=[
                *self._creation_args(envelope, q_prefix, q_suffix),
                envelope.attempt,
                max_crashes,
                s_prefix,
                s_suffix,
                len(create_fields),
                worker,
                self.keys.worker(""),
                _iso(envelope.created_at),
                self.keys.idempotency(envelope.owner, key) if key else "",
                idempotency_ttl,
                *create_fields,
                *start_fields,
            ],
        )
        status = StartStatus(res[0])
        previous = _text(res[1])
        if status is StartStatus.FINISHED:
            return Started(status, previous, 0, dead_lettered=bool(_text(res[3])))
        if status is StartStatus.DUPLICATE:
            return Started(status, "", 0, duplicate_of=previous)
        if status is StartStatus.ID_IN_USE:
            return Started(status, previous, 0, existing_key=_text(res[3]))
        if status is not StartStatus.STARTED:
            return Started(status, previous, int(res[2]))
        seq = int(res[3])
        created = None
        if _text(res[6]):
            created = _appended(seq - 1, res[6], res[7], q_prefix, q_suffix)
        running = _appended(seq, res[4], res[5], s_prefix, s_suffix)
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
        prefix, suffix = _split_event(event)
        flat: list[Any] = []
        for name, value in (fields or {}).items():
            flat += [name, _field_value(value)]
        if to.is_final or to is JobState.RETRYING:
            flat += ["updated_at", _iso(event.at)]
        if to.is_final:
            flat += ["finished_at", _iso(event.at)]
        k = self.keys
        res = await self._scripts.call(
            self._transition,
            keys=[
                k.job(job_id),
                k.job_events(job_id),
                k.active_jobs,
                k.owner_events(owner),
                # A final state frees the job's in-flight slot in the same step.
                k.jobs_in_flight(owner),
            ],
            args=[
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
            ],
        )
        if res[0] != 1:
            return Transitioned(False, _text(res[1]) or None)
        return Transitioned(True, _text(res[1]), _appended(res[2], res[3], res[4], prefix, suffix))

    async def reserve_idempotency_key(
        self, owner: str, key: str, job_id: str, digest: str, *, ttl_seconds: int
    ) -> tuple[str, str] | None:
        """Claim ``key`` for ``job_id``; if it was already claimed return (job id, digest)."""
        name = self.keys.idempotency(owner, key)
        value = f"{job_id} {digest}"
        with redis_span("reserve_idempotency_key"):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(name, value, nx=True, ex=ttl_seconds)
                pipe.get(name)
                claimed, current = await pipe.execute()
        if claimed:
            return None
        existing_id, _, existing_digest = _text(current).partition(" ")
        return existing_id, existing_digest

    async def release_idempotency_key(self, owner: str, key: str, job_id: str) -> None:
        """Free a claimed key whose job never got queued (only if it still names ``job_id``)."""
        name = self.keys.idempotency(owner, key)
        with redis_span("release_idempotency_key"):
            current = await self.redis.get(name)
            if current is not None and _text(current).split(" ", 1)[0] == job_id:
                await self.redis.delete(name)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        raw: Any = await self.redis.hgetall(self.keys.job(job_id))
        return _record_from_hash(raw) if raw else None

    async def get_many(self, job_ids: Sequence[str]) -> list[JobRecord]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            rows = await pipe.execute()
        return [_record_from_hash(row) for row in rows if row]

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
                (int(score), job_id)
                for job_id, score in ((_text(m), s) for m, s in rows)
                if after is None or (int(score), job_id) < after
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
        return [(int(_text(eid).split("-")[1]), fields[b"e"]) for eid, fields in rows]

    async def owner_events_after(
        self, owner: str, cursor: str, *, limit: int = 1000
    ) -> list[HistoryEntry]:
        """The owner's events recorded after ``cursor`` ("0" for all that are kept)."""
        start = "-" if cursor in ("", "0") else f"({cursor}"
        rows: Any = await self.redis.xrange(self.keys.owner_events(owner), start, "+", count=limit)
        return [HistoryEntry(_text(eid), _text(f[b"j"]), f[b"e"]) for eid, f in rows]


# -- encoding helpers ------------------------------------------------------------------------


def encode_cursor(score: int, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{score}|{job_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ``ValueError`` on a cursor this store did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, job_id = raw.split("|", 1)
        return int(score), job_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not one this API returned") from exc


def _split_event(event: JobEvent) -> tuple[bytes, bytes]:
    # A JSON string cannot contain an unescaped quote, so the first '"seq":1' is the field;
    # Lua puts the real seq between the two halves.
    body = encode(msgspec.structs.replace(event, seq=1))
    i = body.index(_SEQ_MARK)
    return body[: i + len(_SEQ_MARK) - 1], body[i + len(_SEQ_MARK) :]


def _appended(seq: Any, cursor: Any, prev: Any, prefix: bytes, suffix: bytes) -> Appended:
    return Appended(int(seq), _text(cursor), _text(prev), prefix + str(int(seq)).encode() + suffix)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def _score(created_at: dt.datetime) -> int:
    return int(created_at.timestamp() * 1000)


def _field_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, msgspec.Struct):
        return encode(value)
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _record_fields(envelope: JobEnvelope, trace_id: str | None) -> list[Any]:
    created = _iso(envelope.created_at)
    fields: dict[str, Any] = {
        "job_id": envelope.job_id,
        "job_type": envelope.job_type,
        "owner": envelope.owner,
        "state": JobState.QUEUED.value,
        "priority": envelope.priority.value,
        "attempt": envelope.attempt,
        "max_attempts": envelope.max_attempts,
        "created_at": created,
        "updated_at": created,
        "request": encode(envelope.request),
        "last_seq": 0,
        "crashes": 0,
        "idempotency_key": envelope.idempotency_key or "",
        "trace_id": trace_id or "",
    }
    flat: list[Any] = []
    for name, value in fields.items():
        flat += [name, value]
    return flat


_JSON_FIELDS = ("request", "progress", "result", "error")
_INT_FIELDS = ("attempt", "max_attempts", "last_seq")


def _record_from_hash(raw: dict[bytes, bytes]) -> JobRecord:
    data: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode()
        if name not in _RECORD_FIELDS or value == b"":
            continue
        if name in _JSON_FIELDS:
            data[name] = msgspec.json.decode(value)
        elif name in _INT_FIELDS:
            data[name] = int(value)
        else:
            data[name] = value.decode()
    return msgspec.convert(data, JobRecord, strict=False)


_RECORD_FIELDS = frozenset(f.name for f in msgspec.structs.fields(JobRecord))

__all__ = [
    "Appended",
    "HistoryEntry",
    "JobError",
    "JobStore",
    "Progress",
    "StartStatus",
    "Started",
    "Transitioned",
]
