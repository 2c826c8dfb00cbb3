"""Runs Lua scripts on Redis, sending the calls made in one event-loop tick as one pipeline.

A worker with many jobs in flight makes several script calls per loop iteration; sending them
together saves a connection checkout, a write and a read per call, which is most of redis-py's
per-command cost. How a batch goes out is ``transport/redis_scripts.py``'s business (the
client's mode). A single call still goes out on the next tick, so nothing waits for a batch.
Each call is traced as a CLIENT span (``redis <script name>``) of the caller's trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from conveyor.runtime.telemetry import child_spans_recorded, redis_span
from conveyor.runtime.transport.redis_scripts import evalsha_batch

_Replication = Literal["required", "checked"] | None
"""After a call's batch: no ``WAIT``, one whose shortfall fails the call, or one whose
shortfall the call's answer reports."""
_REQUIRED: _Replication = "required"
_CHECKED: _Replication = "checked"
_Call = tuple[AsyncScript, list[Any], list[Any], _Replication, "asyncio.Future[Any]"]


class ReplicationShortError(RedisError):
    """A write that must be replicated reached fewer replicas than asked within the timeout.

    It did happen on the server that took it, but a failover may lose it: that server may be
    a former master the Sentinels already replaced. Callers treat it as a failed write and
    try again (each recorded write is safe to repeat), which reaches the current master.
    """

    def __init__(self, acknowledged: int, wanted: int) -> None:
        super().__init__(f"{acknowledged} of {wanted} Redis replicas acknowledged the write")
        self.acknowledged = acknowledged


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    """``WAIT replicas timeout_ms`` after a batch holding a write that must be replicated, or
    whose replication its caller checks.

    ``on_short`` is told how many replicas acknowledged when fewer did in time; the batch's
    replicated calls then raise ``ReplicationShortError``, its checked calls answer that they
    were not acknowledged (see RELIABILITY.md, Redis failover).
    """

    replicas: int
    timeout_ms: int
    on_short: Callable[[int], None]


class ScriptBatcher:
    """Batches ``EVALSHA`` calls; loads scripts on ``NOSCRIPT`` (first use, Redis restart)."""

    def __init__(self, redis: Redis, *, wait: ReplicaWait | None = None) -> None:
        self._redis = redis
        self._wait = wait
        self._queue: list[_Call] = []
        self._pending: asyncio.Task[None] | None = None
        """The batch task made for the queued calls, until its first step takes them."""
        self._running: set[asyncio.Task[None]] = set()
        self._names: dict[int, str] = {}

    def register(self, source: str, name: str = "script") -> AsyncScript:
        """A script object for ``call``; ``name`` names its spans."""
        script = self._redis.register_script(source)
        self._names[id(script)] = name
        return script

    async def call(
        self, script: AsyncScript, keys: list[Any], args: list[Any], *, replicated: bool = False
    ) -> Any:
        """The script's reply; with ``replicated`` (and a ``ReplicaWait``) only once replicas
        acknowledged it, or the wait's timeout passed."""
        wait = _REQUIRED if replicated and self._wait is not None else None
        if not child_spans_recorded():  # the hot path when tracing is off: no span at all
            return await self._enqueue(script, keys, args, wait)
        with redis_span(self._names.get(id(script), "script")):
            return await self._enqueue(script, keys, args, wait)

    async def call_checked(
        self, script: AsyncScript, keys: list[Any], args: list[Any]
    ) -> tuple[Any, bool]:
        """The script's reply, and whether replicas acknowledged it within the wait's timeout
        (always True without a ``ReplicaWait``). Unlike ``replicated``, a shortfall is not an
        error: the write happened, but may live only on a master the Sentinels replaced."""
        if self._wait is None:
            return await self.call(script, keys, args), True
        if not child_spans_recorded():
            answer: tuple[Any, bool] = await self._enqueue(script, keys, args, _CHECKED)
            return answer
        with redis_span(self._names.get(id(script), "script")):
            answer = await self._enqueue(script, keys, args, _CHECKED)
            return answer

    def _enqueue(
        self, script: AsyncScript, keys: list[Any], args: list[Any], wait: _Replication
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, wait, future))
        if self._pending is None:
            # The task's first step runs on the next tick and takes every call queued by then:
            # one hop to the send, not a ``call_soon`` that then starts a task.
            task = self._pending = asyncio.create_task(self._run())
            self._running.add(task)
            task.add_done_callback(self._ran)
        return future

    def _ran(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if task is self._pending:
            # Ended before its first step (cancelled: the loop shutting down), so the queued
            # calls were never sent; their callers are cancelled rather than left waiting.
            self._pending = None
            queued, self._queue = self._queue, []
            for *_, future in queued:
                future.cancel()

    async def _run(self) -> None:
        self._pending = None
        batch, self._queue = self._queue, []
        try:
            results = await self._execute(batch)
        except BaseException as exc:  # the callers get it, whatever it is
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        results = await self._pipeline(batch)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                await self._redis.script_load(script.script)
            retried = await self._pipeline([batch[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        """The batch's replies in order; a script's error is its reply, not raised."""
        # One WAIT covers every write sent before it on this connection: the whole batch.
        wait = self._wait if any(mode is not None for *_, mode, _ in batch) else None
        replies, acknowledged = await evalsha_batch(
            self._redis,
            [(script.sha, keys, args) for script, keys, args, _, _ in batch],
            wait=None if wait is None else (wait.replicas, wait.timeout_ms),
        )
        short = None
        if wait is not None and acknowledged is not None and acknowledged < wait.replicas:
            wait.on_short(acknowledged)
            short = ReplicationShortError(acknowledged, wait.replicas)
        for i, (*_, mode, _) in enumerate(batch):
            if mode is None or isinstance(replies[i], Exception):
                continue  # a script's error (NOSCRIPT too: loaded and sent again) stays
            if mode == _CHECKED:
                replies[i] = (replies[i], short is None)
            elif short is not None:
                replies[i] = short
        return replies
