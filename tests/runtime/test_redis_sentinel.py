"""Clients built from Sentinel settings follow a failover: the job store (records, event
histories the WebSocket reads), limits and the scheduler's leader lock keep working on the
promoted replica, on redis-py's Sentinel-managed connections with the services' settings.

Each test runs a private master, replica and three Sentinels (``tests.support.private_sentinel``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.sentinel import SentinelManagedConnection

from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.maintenance.leadership import LeaderLock
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.limits import LimitStore
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ReplicaWait
from conveyor.runtime.settings import Settings, SettingsError, load_settings
from conveyor.runtime.transport.redis_connections import (
    SOCKET_TIMEOUT,
    SentinelTimedWritesConnection,
    TransportMode,
    transport_of,
)
from conveyor.runtime.transport.redis_sentinel import (
    SentinelConfig,
    master_connection_options,
    sentinel_config,
)
from tests.runtime.jobstore.support import envelope, finish, history, new_owner, queued, start
from tests.support.private_sentinel import SentinelSetup, private_sentinel


@pytest.fixture
async def setup() -> AsyncIterator[SentinelSetup]:
    async with private_sentinel() as started:
        yield started


@pytest.fixture
async def client(setup: SentinelSetup) -> AsyncIterator[Redis]:
    redis = setup.client()
    yield redis
    await redis.aclose()


def _store(redis: Redis, keys: Keys) -> JobStore:
    return JobStore(redis, keys, retention_seconds=3600, history_max=100)


@pytest.mark.parametrize("transport", ["fast", "plain"])
def test_a_sentinel_client_has_the_services_socket_settings_and_its_mode(
    transport: TransportMode,
) -> None:
    """redis-py's Sentinel-managed connections with timed writes and TCP keepalive like every
    client (``transport/redis_connections``); the script batches follow the client's mode."""
    config = SentinelConfig(["127.0.0.1:1"], "mymaster")
    client = open_redis("redis://:secret@ignored:6379/3", config, transport=transport)
    pool = client.connection_pool
    assert pool.connection_class is SentinelTimedWritesConnection
    assert issubclass(SentinelTimedWritesConnection, SentinelManagedConnection)
    assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT
    assert pool.connection_kwargs["socket_keepalive"] is True
    assert pool.connection_kwargs["password"] == "secret"
    assert pool.connection_kwargs["db"] == 3
    assert transport_of(client) == transport


def test_a_sentinel_entry_without_a_port_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_REDIS_SENTINELS is 'a:26379,b'"):
        load_settings(Settings, {"CONVEYOR_REDIS_SENTINELS": "a:26379,b"})


def test_sentinel_settings_keep_the_urls_credentials_database_and_tls() -> None:
    settings = load_settings(
        Settings,
        {
            "CONVEYOR_REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379",
            "CONVEYOR_REDIS_MASTER_NAME": "jobs",
            "CONVEYOR_REDIS_URL": "rediss://user:p%40ss@ignored:1/3?socket_timeout=2.5",
        },
    )
    config = sentinel_config(settings)
    assert config is not None
    assert (list(config.sentinels), config.master_name) == (
        ["10.0.0.1:26379", "10.0.0.2:26379"],
        "jobs",
    )
    assert master_connection_options(settings.redis_url) == {
        "username": "user",
        "password": "p@ss",
        "db": 3,
        "socket_timeout": 2.5,
        "ssl": True,
    }
    assert sentinel_config(load_settings(Settings, {})) is None


async def test_records_histories_and_limits_follow_a_killed_master(
    setup: SentinelSetup, client: Redis
) -> None:
    keys = Keys(f"sentinel-{uuid.uuid4().hex[:8]}")
    store = _store(client, keys)
    limits = LimitStore(client, keys, store, retention_seconds=3600)
    owner = new_owner()
    env = envelope(owner)
    assert (await start(store, env)).started is not None
    assert (await limits.admit_job(owner, env.job_id, limit=2)).admitted
    await setup.replicated()

    _, promoted = await setup.kill_master()

    assert (await finish(store, env)).ok
    record = await store.get(env.job_id)
    assert record is not None and record.state is JobState.SUCCEEDED
    assert [type(e).__name__ for _, e in await history(store, env.job_id)] == [
        "JobQueued",
        "JobStarted",
        "JobSucceeded",
    ]
    # The transition freed the owner's slot on the new master; limits count there.
    assert await limits.in_flight(owner) == 0
    assert await limits.take_submit_token(owner, rate=1, burst=1) is None
    async with contextlib.aclosing(promoted.client()) as direct:
        assert await direct.hget(keys.job(env.job_id), "state") == b"succeeded"
    connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert isinstance(connection, SentinelManagedConnection)
        assert connection.port == promoted.port
    finally:
        await client.connection_pool.release(connection)


async def test_the_leader_lock_is_renewed_and_taken_on_a_promoted_master(
    setup: SentinelSetup, client: Redis
) -> None:
    keys = Keys(f"sentinel-{uuid.uuid4().hex[:8]}")
    leader = LeaderLock(client, keys, instance="maintenance-a", ttl=30)
    other = LeaderLock(client, keys, instance="maintenance-b", ttl=30)
    assert await leader.try_acquire()
    await setup.replicated()

    _, promoted = await setup.kill_master()

    assert await leader.renew()  # the lock was replicated: the same holder keeps it
    assert not await other.try_acquire()
    fence = leader.fence
    await leader.release()
    assert await other.try_acquire()
    assert other.fence == fence + 1  # the fence counter was replicated too
    async with contextlib.aclosing(promoted.client()) as direct:
        assert await direct.get(keys.scheduler_leader) == other.value.encode()  # type: ignore[union-attr]


async def test_script_batches_on_pooled_connections_move_to_the_new_master(
    setup: SentinelSetup, client: Redis
) -> None:
    """A manual failover demotes the old master: its pooled connections answer ``READONLY``
    (or are closed by the Sentinel) and the batch is sent again on a connection to the new one."""
    keys = Keys(f"sentinel-{uuid.uuid4().hex[:8]}")
    store = _store(client, keys)
    owner = new_owner()
    before = [envelope(owner) for _ in range(20)]
    for env in before:
        await start(store, env)
    # The replica has them before the failover: this test is about connections moving to the
    # new master, not about what asynchronous replication may lose (RELIABILITY.md). WAIT
    # counts the writes of its own connection, so a write on the same one comes first; the
    # replication stream is in order, so the earlier writes are there too.
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(f"{keys.namespace}:replicated", 1)
        pipe.execute_command("WAIT", 1, 10_000)
        assert (await pipe.execute())[1] == 1

    promoted = await setup.failover()

    after = [envelope(owner) for _ in range(20)]
    for env in after:
        assert (await start(store, env)).started is not None
    for env in before + after:
        assert (await finish(store, env)).ok
    async with contextlib.aclosing(promoted.client()) as direct:
        states = {await direct.hget(keys.job(env.job_id), "state") for env in before + after}
    assert states == {b"succeeded"}


async def test_with_replica_wait_a_record_and_its_outcome_are_on_the_replica_on_return(
    setup: SentinelSetup, client: Redis
) -> None:
    keys = Keys(f"sentinel-{uuid.uuid4().hex[:8]}")
    shortfalls: list[int] = []
    store = JobStore(
        client, keys, retention_seconds=3600, replica_wait=ReplicaWait(1, 5000, shortfalls.append)
    )
    master = await setup.master()
    replica = next(node for node in setup.data if node is not master)
    owner = new_owner()
    async with contextlib.aclosing(replica.client()) as direct:
        for _ in range(20):
            env = envelope(owner)
            assert await store.create(env, queued(env), trace_id=None) is not None
            assert await direct.hget(keys.job(env.job_id), "state") == b"queued"
            await start(store, env)
            assert (await finish(store, env)).ok
            assert await direct.hget(keys.job(env.job_id), "state") == b"succeeded"
    assert shortfalls == []
