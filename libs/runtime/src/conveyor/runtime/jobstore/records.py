"""Encoding job records to and from their Redis hash, events to script arguments, and cursors."""

from __future__ import annotations

import base64
import datetime as dt
import enum
from typing import Any

import msgspec

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import JobEvent
from conveyor.contracts.jobs import JobEnvelope, utcnow
from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore.outcomes import Appended

_SEQ_MARK = b'"seq":1'
_JSON_FIELDS = ("request", "progress", "result", "error")
_INT_FIELDS = ("attempt", "max_attempts", "last_seq")
_RECORD_FIELDS = frozenset(f.name for f in msgspec.structs.fields(JobRecord))


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


def split_event(event: JobEvent) -> tuple[bytes, bytes]:
    """The event's JSON in two halves around its seq, which the script fills in."""
    # A JSON string cannot contain an unescaped quote, so the first '"seq":1' is the field.
    body = encode(msgspec.structs.replace(event, seq=1))
    i = body.index(_SEQ_MARK)
    return body[: i + len(_SEQ_MARK) - 1], body[i + len(_SEQ_MARK) :]


def appended(
    seq: Any, cursor: Any, prev: Any, prefix: bytes, suffix: bytes, *, replicated: bool = True
) -> Appended:
    body = prefix + str(int(seq)).encode() + suffix
    return Appended(int(seq), text(cursor), text(prev), body, replicated)


def text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def score(created_at: dt.datetime) -> int:
    """The time indexes' score: creation time in ms."""
    return int(created_at.timestamp() * 1000)


def field_value(value: Any) -> Any:
    """A record field as stored; ``None`` clears it (an empty field reads as absent)."""
    if value is None:
        return ""
    if isinstance(value, msgspec.Struct):
        return encode(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def record_fields(envelope: JobEnvelope, trace_id: str | None) -> list[Any]:
    """A new queued record's fields, flat (name, value, ...); not ``last_seq``, which the
    script that writes them sets to the seq of the events it records with them."""
    created = iso(envelope.created_at)
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
        "crashes": 0,
        "idempotency_key": envelope.idempotency_key or "",
        "trace_id": trace_id or "",
    }
    flat: list[Any] = []
    for name, value in fields.items():
        flat += [name, value]
    return flat


def start_fields(envelope: JobEnvelope, worker: str) -> list[Any]:
    """What starting the envelope's attempt on ``worker`` sets in its record, flat."""
    now = iso(utcnow())
    return [
        "state", JobState.RUNNING.value, "attempt", envelope.attempt, "worker", worker,
        "started_at", now, "updated_at", now,
    ]  # fmt: skip


def record_from_hash(raw: dict[bytes, bytes]) -> JobRecord:
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
