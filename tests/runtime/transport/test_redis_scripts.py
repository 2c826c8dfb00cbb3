"""Batched script calls on the real Redis, in both modes: replies in order, errors per call,
scripts loaded on first use, connections the server dropped replaced, and a cancelled batch
leaves the connection in step."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ReplicationShortError, ReplicaWait, ScriptBatcher
from conveyor.runtime.transport.redis_connections import TransportMode, redis_from_url
from tests.support.namespace import REDIS_URL
from tests.support.private_redis import private_redis

# A fresh source per run: its first call meets NOSCRIPT and has to load it.
ECHO = f"-- {uuid.uuid4().hex}\nredis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]"
FAIL = "return redis.error_reply('refused: ' .. ARGV[1])"
SLOW = "local t = redis.call('TIME') repeat until redis.call('TIME')[2] ~= t[2] return ARGV[1]"


@pytest.fixture
def client_name(namespace: str) -> str:
    return f"{namespace}-batcher-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def client(client_name: str, transport: TransportMode) -> AsyncIterator[Redis]:
    # No retries, unlike the services' clients: a dropped connection shows.
    redis = redis_from_url(REDIS_URL, transport, client_name=client_name)
    yield redis
    await redis.aclose()


async def test_a_tick_of_calls_gets_its_replies_in_order(client: Redis, namespace: str) -> None:
    batcher = ScriptBatcher(client)
    echo, fail = batcher.register(ECHO, "echo"), batcher.register(FAIL, "fail")
    calls = [
        batcher.call(fail, [], [str(i)])
        if i % 3 == 0
        else batcher.call(echo, [f"{namespace}:b{i}"], [str(i)])
        for i in range(30)
    ]
    replies = await asyncio.gather(*calls, return_exceptions=True)

    for i, reply in enumerate(replies):
        if i % 3 == 0:
            assert isinstance(reply, ResponseError) and str(reply) == f"refused: {i}"
        else:
            assert reply == str(i).encode()
    assert await client.get(f"{namespace}:b29") == b"29"


async def test_a_dropped_connection_is_replaced(
    client: Redis, client_name: str, namespace: str
) -> None:
    batcher = ScriptBatcher(client)
    echo = batcher.register(ECHO, "echo")
    assert await batcher.call(echo, [f"{namespace}:d"], ["1"]) == b"1"

    admin = open_redis(REDIS_URL)
    try:
        ours = [c["id"] for c in await admin.client_list() if c["name"] == client_name]
        assert len(ours) == 1  # the batcher's one pooled connection
        assert await admin.client_kill_filter(_id=ours[0]) == 1
    finally:
        await admin.aclose()

    # The batch on the dropped connection may fail (the client is set for no retries)...
    with contextlib.suppress(ConnectionError):
        await batcher.call(echo, [f"{namespace}:d"], ["2"])
    # ...but it is not handed out again: the next batch runs on a new connection.
    assert await batcher.call(echo, [f"{namespace}:d"], ["3"]) == b"3"
    assert await client.get(f"{namespace}:d") == b"3"


async def test_a_restarted_server_gets_its_scripts_again(transport: TransportMode) -> None:
    # The services' client: its retry sends the batch again on a new connection, and the
    # scripts the restart forgot are loaded on NOSCRIPT.
    async with private_redis() as server:
        client = open_redis(server.url, transport=transport)
        try:
            batcher = ScriptBatcher(client)
            echo = batcher.register(ECHO, "echo")
            assert await batcher.call(echo, ["k"], ["before"]) == b"before"
            await server.restart()
            replies = await asyncio.gather(*(batcher.call(echo, ["k"], [str(i)]) for i in range(5)))
            assert replies == [str(i).encode() for i in range(5)]
        finally:
            await client.aclose()


async def test_a_batch_cancelled_mid_reply_leaves_no_reply_behind(
    client: Redis, namespace: str
) -> None:
    batcher = ScriptBatcher(client)
    slow, echo = batcher.register(SLOW, "slow"), batcher.register(ECHO, "echo")
    assert await batcher.call(echo, [f"{namespace}:c"], ["warm"]) == b"warm"  # loaded

    for i in range(20):
        calls = [asyncio.ensure_future(batcher.call(slow, [], [str(n)])) for n in range(5)]
        # Cancel once the batch is on the wire, before its replies (each takes ~1 µs-1 ms).
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        # Whatever the cancelled batch left unread must not be taken for this reply.
        assert await batcher.call(echo, [f"{namespace}:c"], [f"after-{i}"]) == f"after-{i}".encode()
        assert await client.get(f"{namespace}:c") == f"after-{i}".encode()


async def test_a_replicated_call_without_enough_replicas_fails_though_written(
    client: Redis, namespace: str
) -> None:
    """The shared Redis has no replica: WAIT gives up after its timeout with 0 of 1."""
    shortfalls: list[int] = []
    batcher = ScriptBatcher(client, wait=ReplicaWait(1, 10, shortfalls.append))
    echo = batcher.register(ECHO, "echo")
    replies = await asyncio.gather(
        batcher.call(echo, [f"{namespace}:w1"], ["1"], replicated=True),
        batcher.call(echo, [f"{namespace}:w2"], ["2"]),
        return_exceptions=True,
    )

    assert isinstance(replies[0], ReplicationShortError) and replies[0].acknowledged == 0
    assert replies[1] == b"2"  # a call in the same batch not marked replicated is answered
    assert shortfalls == [0]  # one WAIT for the whole batch
    assert await client.mget(f"{namespace}:w1", f"{namespace}:w2") == [b"1", b"2"]
    assert await batcher.call(echo, [f"{namespace}:w3"], ["3"]) == b"3"
    assert shortfalls == [0]  # a call not marked replicated does not wait


async def test_a_checked_call_answers_whether_replicas_acknowledged_it(
    client: Redis, namespace: str
) -> None:
    """Short of replicas, a checked call is answered (it was written) and says so; without a
    ``ReplicaWait`` every write counts as acknowledged and nothing waits."""
    shortfalls: list[int] = []
    batcher = ScriptBatcher(client, wait=ReplicaWait(1, 10, shortfalls.append))
    echo, fail = batcher.register(ECHO, "echo"), batcher.register(FAIL, "fail")
    replies = await asyncio.gather(
        batcher.call_checked(echo, [f"{namespace}:k1"], ["1"]),
        batcher.call_checked(fail, [], ["2"]),
        batcher.call(echo, [f"{namespace}:k3"], ["3"], replicated=True),
        return_exceptions=True,
    )

    assert replies[0] == (b"1", False)
    assert isinstance(replies[1], ResponseError) and "refused: 2" in str(replies[1])
    assert isinstance(replies[2], ReplicationShortError)
    assert shortfalls == [0]  # one WAIT for the whole batch
    assert await client.mget(f"{namespace}:k1", f"{namespace}:k3") == [b"1", b"3"]
    plain = ScriptBatcher(client)
    answer = await plain.call_checked(plain.register(ECHO), [f"{namespace}:k4"], ["4"])
    assert answer == (b"4", True)


async def test_calls_whose_batch_never_started_are_cancelled_and_the_next_ones_run(
    client: Redis, namespace: str
) -> None:
    batcher = ScriptBatcher(client)
    echo = batcher.register(ECHO, "echo")
    key = f"{namespace}:never-{uuid.uuid4().hex}"
    call = asyncio.ensure_future(batcher.call(echo, [key], ["lost"]))
    await asyncio.sleep(0)  # the call is queued and its batch's task made, not started
    batches = list(batcher._running)
    assert len(batches) == 1
    batches[0].cancel()  # as the loop's shutdown cancels every task

    with pytest.raises(asyncio.CancelledError):
        await call
    assert await client.get(key) is None  # never sent
    assert await batcher.call(echo, [key], ["next"]) == b"next"
