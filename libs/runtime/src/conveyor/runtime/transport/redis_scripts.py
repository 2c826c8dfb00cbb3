"""Sending a batch of ``EVALSHA`` calls as one pipeline: straight on a pooled connection,
packed by hiredis (fast), or through redis-py's ``Pipeline`` (plain).

The only module that takes connections out of a redis-py pool or packs commands itself
(``tests/test_library_boundaries.py``). Which path a client takes follows the mode it was opened in
(``redis_connections.transport_of``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hiredis import pack_command
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from conveyor.runtime.transport.redis_connections import transport_of

ScriptCall = tuple[str, Sequence[Any], Sequence[Any]]
"""A script's SHA1, its keys and its arguments."""

Wait = tuple[int, int]
"""``WAIT`` after the batch: how many replicas, and the timeout in ms."""


async def evalsha_batch(
    redis: Redis, calls: Sequence[ScriptCall], *, wait: Wait | None = None
) -> tuple[list[Any], int | None]:
    """The calls' replies in order, a script's error (``NOSCRIPT`` too) as its reply, not
    raised; with ``wait``, also how many replicas acknowledged the batch (else ``None``).

    A connection that fails is replaced under the client's retry policy, as for any command
    (the services' clients send the batch again on a new connection; see ``redis_client``).
    When fewer replicas acknowledged than asked, the batch's connection is dropped: the next
    one asks the Sentinels (if any) where the master is now.
    """
    if transport_of(redis) == "fast":
        return await _on_connection(redis, calls, wait)
    return await _through_pipeline(redis, calls, wait)


async def _through_pipeline(
    redis: Redis, calls: Sequence[ScriptCall], wait: Wait | None
) -> tuple[list[Any], int | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for sha, keys, args in calls:
            pipe.evalsha(sha, len(keys), *keys, *args)
        if wait is not None:
            pipe.execute_command("WAIT", *wait)
        # redis-py drops a connection cancelled or failed mid-reply, so none is reused with
        # unread replies on it.
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    if wait is None:
        return replies, None
    acknowledged = int(replies.pop())
    if acknowledged < wait[0]:
        # Which pooled connection ran the pipeline is not told: drop the idle ones.
        await redis.connection_pool.disconnect(inuse_connections=False)
    return replies, acknowledged


async def _on_connection(
    redis: Redis, calls: Sequence[ScriptCall], wait: Wait | None
) -> tuple[list[Any], int | None]:
    # redis-py's Pipeline object (command stack, response callbacks, per-call bookkeeping)
    # and its packing wrapper (argument checks, a tuple rebuilt per call) are skipped:
    # hiredis packs each call and the replies are read straight off the connection.
    commands = [
        pack_command(("EVALSHA", sha, len(keys), *keys, *args)) for sha, keys, args in calls
    ]
    if wait is not None:
        command: tuple[Any, ...] = ("WAIT", *wait)
        commands.append(pack_command(command))
    payload = b"".join(commands)
    pool = redis.connection_pool
    # Without arguments since redis-py 6 (the lower bound in libs/runtime/pyproject.toml).
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]

    async def send() -> tuple[list[Any], int | None]:
        await connection.send_packed_command(payload)
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # read whole: the connection stays in step
                replies.append(exc)
        if wait is None:
            return replies, None
        acknowledged = int(await connection.read_response())
        if acknowledged < wait[0]:
            await connection.disconnect()  # a former master keeps no replicas: ask again
        return replies, acknowledged

    async def reconnect(_error: Exception) -> None:
        await connection.disconnect()

    try:
        answer: tuple[list[Any], int | None] = await connection.retry.call_with_retry(
            send, reconnect
        )
        return answer
    except BaseException:
        # Cancelled or failed mid-reply: the connection may hold unread replies.
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
