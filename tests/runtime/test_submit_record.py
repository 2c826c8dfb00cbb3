"""A submit writes its record while the broker's confirm is awaited, and keeps rule 1 all the same.

A job the broker confirmed has its record and its ``job.queued`` event, announced only after the
confirm; a job the broker refused (here: a mandatory publish no queue is bound for) leaves no
record, no event, no index entry and no in-flight slot behind, even if its caller was cancelled
meanwhile. The brokers are real; ``Observed`` only notes when its publishes return.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology, job_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError, PublishUnconfirmedError
from conveyor.runtime.jobstore import Appended, JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.support.namespace import AMQP_URL, TRANSPORT

OWNER = "submit-record-user"


class Observed(Broker):
    """The real broker; notes when a job's publish returns and when events go out, and can hold
    a job's publish until the test lets it go (``gate``)."""

    def __init__(self, topology: Topology) -> None:
        super().__init__(AMQP_URL, topology, connection_name="observed", transport=TRANSPORT)
        self.log: list[str] = []
        self.gate: asyncio.Event | None = None
        self.before_publish: Callable[[], Awaitable[None]] | None = None

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        if exchange == self.topology.jobs:
            if self.before_publish is not None:
                await self.before_publish()
            if self.gate is not None:
                await self.gate.wait()
            try:
                await super().publish(exchange, routing_key, body, **kw)
            except BrokerUnavailableError:
                self.log.append("refused")
                raise
            self.log.append("confirmed")
            return
        await super().publish(exchange, routing_key, body, **kw)

    async def publish_events(self, events: Sequence[tuple[str, bytes, Any]]) -> None:
        self.log.extend(f"announced {key}" for key, _, _ in events)
        await super().publish_events(events)


@pytest.fixture
async def observed(module_namespace: str, module_broker: Broker) -> AsyncIterator[Observed]:
    await module_broker.declare_topology()
    broker = Observed(Topology(module_namespace))
    await broker.connect()
    yield broker
    await broker.close()


@contextlib.asynccontextmanager
async def no_queue_for_diagnostics(broker: Broker) -> AsyncIterator[None]:
    """Unbind the diagnostics jobs' key: a mandatory publish of one is returned (refused)."""
    t = broker.topology
    channel = await broker.open_channel()
    queue = await channel.get_queue(t.service_queue("maintenance"), ensure=True)
    key = job_routing_key("diagnostics")
    await queue.unbind(t.jobs, key)
    try:
        yield
    finally:
        await queue.bind(t.jobs, key)
        await channel.close()


def _envelope(marker: int) -> JobEnvelope:
    return JobEnvelope(request=DiagnosticsRequest(numbers=[marker]), owner=OWNER)


async def _record_written(redis: Redis, keys: Keys, job_id: str) -> None:
    """Wait (at most 5 s) until the job's record exists."""
    async with asyncio.timeout(5):
        while not await redis.exists(keys.job(job_id)):
            await asyncio.sleep(0.005)


async def _traces(redis: Redis, keys: Keys, job_id: str) -> dict[str, Any]:
    """Everything a record of ``job_id`` would leave in Redis."""
    owner_entries: Any = await redis.xrange(keys.owner_events(OWNER), "-", "+")
    return {
        "record": await redis.exists(keys.job(job_id)),
        "history": await redis.exists(keys.job_events(job_id)),
        "owner index": await redis.zscore(keys.owner_jobs(OWNER), job_id),
        "time index": await redis.zscore(keys.all_jobs, job_id),
        "active": await redis.sismember(keys.active_jobs, job_id),
        "in flight": await redis.zscore(keys.jobs_in_flight(OWNER), job_id),
        "owner events": [e for _, e in owner_entries if e[b"j"] == job_id.encode()],
    }


NOTHING = {
    "record": 0,
    "history": 0,
    "owner index": None,
    "time index": None,
    "active": 0,
    "in flight": None,
    "owner events": [],
}


async def test_a_confirmed_submit_is_recorded_during_the_publish_and_announced_after_it(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    envelope = _envelope(1)
    seen: list[bool] = []

    async def record_written() -> None:
        # Waits for the record before letting the publish go: a submit that wrote it only
        # after the confirm would never get here (the wait would time out).
        await _record_written(redis, keys, envelope.job_id)
        seen.append(True)

    observed.before_publish = record_written
    lifecycle = JobLifecycle(module_store, observed)
    assert await lifecycle.submit_or_existing(envelope) is None
    await lifecycle.drain(grace=5)
    assert seen == [True]
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state is JobState.QUEUED and record.last_seq == 1
    queued = f"announced job.{OWNER}.queued.diagnostics"
    assert observed.log == ["confirmed", queued]


async def test_a_submits_caller_resumes_before_the_queued_event_is_handed_on_or_announced(
    observed: Observed, module_store: JobStore
) -> None:
    # The gateway writes its 202 when the submit returns: the job.queued event's fan-out and
    # publish wait for it, and neither needs the caller.
    envelope = _envelope(5)
    lifecycle = JobLifecycle(module_store, observed)
    handed_on: list[Appended] = []

    def on_queued(appended: Appended) -> None:
        handed_on.append(appended)
        observed.log.append("handed on")

    lifecycle.on_queued = on_queued
    assert await lifecycle.submit_or_existing(envelope) is None
    observed.log.append("caller resumed")
    await lifecycle.drain(grace=5)
    queued = f"announced job.{OWNER}.queued.diagnostics"
    assert observed.log == ["confirmed", "caller resumed", "handed on", queued]
    [appended] = handed_on
    event = msgspec.json.decode(appended.body, type=dict[str, Any])
    assert (appended.seq, event["event"], event["job_id"]) == (1, "job.queued", envelope.job_id)
    [(cursor, _)] = await module_store.redis.xrange(
        module_store.keys.owner_events(OWNER), appended.cursor, appended.cursor
    )
    assert cursor.decode() == appended.cursor


async def test_drain_lets_a_submit_under_way_end_and_announces_it(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    envelope = _envelope(8)
    observed.gate = asyncio.Event()
    lifecycle = JobLifecycle(module_store, observed)
    caller = asyncio.create_task(lifecycle.submit_or_existing(envelope))
    await _record_written(redis, keys, envelope.job_id)
    draining = asyncio.create_task(lifecycle.drain(grace=5))
    await asyncio.sleep(0.05)
    assert not draining.done()  # waits for the submit
    observed.gate.set()
    await draining
    assert await caller is None
    assert observed.log == ["confirmed", f"announced job.{OWNER}.queued.diagnostics"]


async def test_a_refused_or_replayed_submit_hands_on_no_queued_event(
    observed: Observed, module_store: JobStore
) -> None:
    lifecycle = JobLifecycle(module_store, observed)
    handed_on: list[Appended] = []
    lifecycle.on_queued = handed_on.append
    async with no_queue_for_diagnostics(observed):
        with pytest.raises(BrokerUnavailableError):
            await lifecycle.submit_or_existing(_envelope(6))
    envelope = _envelope(7)
    assert await lifecycle.submit_or_existing(envelope) is None
    # The same envelope again: its record exists, so this submit recorded no event.
    assert await lifecycle.submit_or_existing(envelope) is not None
    await lifecycle.drain(grace=5)
    assert [a.seq for a in handed_on] == [1]


async def test_a_keyed_submit_is_recorded_only_once_the_broker_has_the_job(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    # A request repeating the key is answered 202 with the record: it must not exist for a
    # job the broker may still refuse.
    keys = Keys(module_namespace)
    envelope = JobEnvelope(
        request=DiagnosticsRequest(numbers=[10]), owner=OWNER, idempotency_key="k-10"
    )
    absent: list[bool] = []

    async def record_absent() -> None:
        await asyncio.sleep(0.05)  # time enough for a record sent with the publish to land
        absent.append(not await redis.exists(keys.job(envelope.job_id)))

    observed.before_publish = record_absent
    lifecycle = JobLifecycle(module_store, observed)
    assert await lifecycle.submit_or_existing(envelope) is None
    await lifecycle.drain(grace=5)
    assert absent == [True]
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state is JobState.QUEUED
    assert observed.log == ["confirmed", f"announced job.{OWNER}.queued.diagnostics"]


async def test_a_refused_publish_leaves_no_record_event_index_or_slot(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    envelope = _envelope(2)
    await redis.zadd(keys.jobs_in_flight(OWNER), {envelope.job_id: 1})  # as the gateway admits
    lifecycle = JobLifecycle(module_store, observed)
    async with no_queue_for_diagnostics(observed):
        with pytest.raises(BrokerUnavailableError) as raised:
            await lifecycle.submit_or_existing(envelope)
    assert not isinstance(raised.value, PublishUnconfirmedError)
    await lifecycle.drain(grace=5)
    assert observed.log == ["refused"]  # nothing announced
    assert await _traces(redis, keys, envelope.job_id) == NOTHING


async def test_a_refused_publish_is_taken_back_though_its_caller_was_cancelled(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    envelope = _envelope(3)
    observed.gate = asyncio.Event()
    lifecycle = JobLifecycle(module_store, observed)
    async with no_queue_for_diagnostics(observed):
        caller = asyncio.create_task(lifecycle.submit_or_existing(envelope))
        await _record_written(redis, keys, envelope.job_id)
        caller.cancel()  # e.g. the HTTP client went away
        with pytest.raises(asyncio.CancelledError):
            await caller
        observed.gate.set()
        async with asyncio.timeout(5):
            while "refused" not in observed.log or await redis.exists(keys.job(envelope.job_id)):
                await asyncio.sleep(0.01)
    await lifecycle.drain(grace=5)
    assert observed.log == ["refused"]
    assert await _traces(redis, keys, envelope.job_id) == NOTHING


async def test_a_confirmed_submit_is_recorded_and_announced_though_its_caller_was_cancelled(
    observed: Observed, module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    envelope = _envelope(4)
    observed.gate = asyncio.Event()
    lifecycle = JobLifecycle(module_store, observed)
    caller = asyncio.create_task(lifecycle.submit_or_existing(envelope))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    observed.gate.set()
    async with asyncio.timeout(5):
        while len(observed.log) < 2:
            await asyncio.sleep(0.01)
    await lifecycle.drain(grace=5)
    assert observed.log == ["confirmed", f"announced job.{OWNER}.queued.diagnostics"]
    record = await module_store.get(envelope.job_id)
    assert record is not None and record.state is JobState.QUEUED


# -- WITHDRAW on its own: only what the submit wrote, as it wrote it ----------------------------


async def _created(store: JobStore, envelope: JobEnvelope) -> str:
    queued = JobQueued(
        job_id=envelope.job_id, job_type=envelope.job_type, owner=envelope.owner, attempt=1
    )
    appended = await store.create(envelope, queued, trace_id=None)
    assert appended is not None
    return appended.cursor


async def test_withdraw_finds_the_event_when_the_creating_reply_was_lost(
    module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    envelope = _envelope(5)
    other = _envelope(6)
    await _created(module_store, envelope)
    await _created(module_store, other)  # a later entry of the same owner stays
    assert await module_store.withdraw(envelope, "")  # no cursor: searched for
    assert await _traces(redis, keys, envelope.job_id) == NOTHING
    assert (await _traces(redis, keys, other.job_id))["owner events"] != []


async def test_withdraw_leaves_a_record_that_moved_on_or_is_another_envelopes(
    module_store: JobStore, redis: Redis, module_namespace: str
) -> None:
    keys = Keys(module_namespace)
    started = _envelope(7)
    cursor = await _created(module_store, started)
    moved = await module_store.transition(
        started.job_id,
        OWNER,
        allowed=[JobState.QUEUED],
        to=JobState.RUNNING,
        event=JobStarted(
            job_id=started.job_id, job_type="diagnostics", owner=OWNER, attempt=1, worker="w"
        ),
    )
    assert moved.ok
    assert not await module_store.withdraw(started, cursor)
    assert (await module_store.get(started.job_id)) is not None

    original = _envelope(8)
    cursor = await _created(module_store, original)
    impostor = JobEnvelope(
        request=DiagnosticsRequest(numbers=[8]), owner=OWNER, job_id=original.job_id
    )
    assert impostor.created_at != original.created_at
    assert not await module_store.withdraw(impostor, cursor)
    kept = await _traces(redis, keys, original.job_id)
    assert kept["record"] == 1 and kept["owner events"] != []

    assert not await module_store.withdraw(_envelope(9), "")  # no record at all
