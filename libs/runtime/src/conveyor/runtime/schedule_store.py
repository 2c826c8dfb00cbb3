"""Schedule definitions and their run state in Redis, shared by the scheduler and the gateway.

Definitions (``Keys.schedules``) are written by the gateway and by first-start seeding; the
run state (``Keys.schedule_runs``) by whoever starts a schedule's job. Each lives in its own
hash field, so an edit and a firing never overwrite each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.keys import Keys
from conveyor.contracts.schedules import Schedule, ScheduleRun

log = logging.getLogger(__name__)

_schedule_decoder = msgspec.json.Decoder(Schedule)
_run_decoder = msgspec.json.Decoder(ScheduleRun)

# Seeding writes every default at once, and only into a hash that does not exist yet, so two
# instances starting together seed once and a schedule an admin deleted stays deleted.
# KEYS: schedules hash; ARGV: name, the definition read, the new definition
_COMPARE_AND_SET = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
UPDATE_ATTEMPTS = 100

_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return #ARGV / 2
"""


@dataclass(frozen=True, slots=True)
class RunState:
    """What the run-state hash says about one schedule."""

    last: ScheduleRun | None = None
    fired_up_to: float | None = None
    """Unix time of the latest fire time claimed by a leader (the catch-up anchor)."""


class ScheduleStore:
    """Read and write schedule definitions and run state of one namespace."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def all(self) -> list[Schedule]:
        """Every definition, by name; one that does not decode is logged and left out."""
        raw: Any = await self.redis.hgetall(self.keys.schedules)
        schedules = []
        for name, body in sorted(raw.items()):
            try:
                schedules.append(_schedule_decoder.decode(body))
            except msgspec.MsgspecError as exc:
                log.error("schedule %r is not readable, ignored: %s", name.decode(), exc)
        return schedules

    async def get(self, name: str) -> Schedule | None:
        body: Any = await self.redis.hget(self.keys.schedules, name)
        return None if body is None else _schedule_decoder.decode(body)

    async def put(self, schedule: Schedule) -> None:
        await self.redis.hset(self.keys.schedules, schedule.name, encode(schedule))

    async def update(self, name: str, change: Callable[[Schedule], Schedule]) -> Schedule | None:
        """Apply ``change`` to the stored definition atomically (compare and set, retried), so
        two admins editing one schedule at once both take effect; ``None`` if it is unknown."""
        for _ in range(UPDATE_ATTEMPTS):
            body: Any = await self.redis.hget(self.keys.schedules, name)
            if body is None:
                return None
            changed = change(_schedule_decoder.decode(body))
            stored = await self.redis.eval(
                _COMPARE_AND_SET, 1, self.keys.schedules, name, body, encode(changed)
            )
            if stored:
                return changed
        raise RuntimeError(f"schedule {name!r} kept changing under {UPDATE_ATTEMPTS} updates")

    async def seed(self, schedules: Iterable[Schedule]) -> int:
        """Store ``schedules`` if no schedule was ever stored; returns how many were written."""
        args: list[Any] = []
        for schedule in schedules:
            args += [schedule.name, encode(schedule)]
        if not args:
            return 0
        written = await self.redis.eval(_SEED, 1, self.keys.schedules, *args)
        return int(written)

    async def run_states(self, names: Sequence[str]) -> dict[str, RunState]:
        fields = [f"{name}:{part}" for name in names for part in ("last", "fired")]
        if not fields:
            return {}
        values: Any = await self.redis.hmget(self.keys.schedule_runs, fields)
        states = {}
        for i, name in enumerate(names):
            last, fired = values[2 * i : 2 * i + 2]
            states[name] = RunState(
                last=_run_decoder.decode(last) if last else None,
                fired_up_to=float(fired) if fired else None,
            )
        return states

    async def record_run(self, name: str, run: ScheduleRun) -> None:
        await self.redis.hset(self.keys.schedule_runs, f"{name}:last", encode(run))
