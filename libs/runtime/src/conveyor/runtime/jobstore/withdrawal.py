"""Taking back a queued record whose job the broker refused (the submit's ``WITHDRAW``).

A submit writes the job's record while it awaits the broker's confirm (see ``lifecycle``). When
the broker then refuses the job (a nack, a return, never sent), the record must go, or it would
show a job that never runs. ``WITHDRAW`` removes it only if it is still exactly what that submit
wrote: queued, with its one event, and the same creation time. A record a worker moved on, or
another envelope's under the same id, stays. Kept apart from ``scripts``: submit-only.
"""

from __future__ import annotations

from typing import Any

from redis.commands.core import AsyncScript

from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore.layout import creation_keys
from conveyor.runtime.jobstore.records import iso
from conveyor.runtime.script_batcher import ScriptBatcher

OWNER_SCAN = 1000
"""Owner-stream entries searched for the job's event when the creating call's reply was lost."""

WITHDRAW = """
local f = redis.call('HMGET', KEYS[1], 'state', 'last_seq', 'created_at')
if f[1] ~= 'queued' or f[2] ~= '1' or f[3] ~= ARGV[2] then return 0 end
local cursor = ARGV[3]
if cursor == '' then
  for _, e in ipairs(redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', ARGV[4])) do
    if e[2][2] == ARGV[1] then cursor = e[1] break end
  end
end
if cursor ~= '' then redis.call('XDEL', KEYS[6], cursor) end
-- A stream this submit began goes with its one entry, as if never written.
if redis.call('XLEN', KEYS[6]) == 0 then redis.call('DEL', KEYS[6]) end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
return 1
"""
"""Remove a record, its event, index entries and in-flight slot if it is as its submit left it.

KEYS: job, job_events, owner_jobs, all_jobs, active_jobs, owner_events, jobs_in_flight(owner)
ARGV: job_id, created_at (as stored), the queued event's owner-stream cursor ('' if unknown:
      then the newest ARGV[4] entries are searched for the job's), scan bound
Returns 1 if the record was removed, 0 if there was none or it was not the submit's any more.
"""


async def withdraw(
    scripts: ScriptBatcher, script: AsyncScript, keys: Keys, envelope: JobEnvelope, cursor: str
) -> bool:
    """Run ``WITHDRAW`` for ``envelope``'s record; whether it was removed."""
    args: list[Any] = [envelope.job_id, iso(envelope.created_at), cursor, OWNER_SCAN]
    res = await scripts.call(
        script,
        keys=[
            *creation_keys(keys, envelope.job_id, envelope.owner),
            keys.jobs_in_flight(envelope.owner),
        ],
        args=args,
        # Replicated as the creation was: a failover must not bring the record back.
        replicated=True,
    )
    return int(res) == 1
