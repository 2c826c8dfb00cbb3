"""When a session writes a live event straight to the socket and when it must not (pure logic
of ``Session.offer``, with a stand-in socket: no broker or Redis is involved in this path)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import web

from conveyor.gateway.ws.intake import EventIntake, LiveEvent
from conveyor.gateway.ws.session import JobSubscription, Session
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.tokens import Principal


class StandInTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered


class StandInSocket:
    """What the session's own task sends; ``send_frame`` waits while ``hold`` is clear."""

    closed = False
    compress = 0

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.hold = asyncio.Event()
        self.hold.set()

    async def send_frame(self, frame: bytes, opcode: Any) -> None:
        await self.hold.wait()
        self.sent.append(frame)


def event(seq: int) -> LiveEvent:
    body = b'{"event":"job.progressed","job_id":"J","owner":"ana","seq":%d}' % seq
    return LiveEvent(owner="ana", job_id="J", seq=seq, cursor=None, prev_cursor=None, body=body)


def new_session() -> tuple[Session, StandInSocket, StandInTransport]:
    ws, transport = StandInSocket(), StandInTransport()
    session = Session(
        cast(web.WebSocketResponse, ws),
        Principal(user="ana"),
        store=cast(JobStore, None),  # not reached: no catch-up in these cases
        intake=cast(EventIntake, None),
        metrics=Metrics(),
        inbox_size=16,
        on_overflow=lambda: None,
        transport=cast(asyncio.Transport, transport),
    )
    session.jobs["J"] = JobSubscription(owner="ana", last_seq=2)
    return session, ws, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_steady_connection_gets_the_next_event_written_at_once() -> None:
    session, ws, transport = new_session()
    session.offer(event(3))
    session.offer(event(3))  # a redelivery
    session.offer(event(4))
    assert transport.written == [event(3).wire(for_job=True), event(4).wire(for_job=True)]
    assert ws.sent == []
    assert session.jobs["J"].last_seq == 4


async def test_a_backpressured_connection_leaves_events_to_its_task_in_order() -> None:
    session, ws, transport = new_session()
    runner = asyncio.create_task(session.run())
    try:
        transport.buffered = 1000
        ws.hold.clear()  # the task's write waits, as aiohttp's drain does
        session.offer(event(3))
        await settle()
        # The buffer emptied while the task still waits on its write: neither a redelivery
        # of 3 nor 4 may be written directly (that would duplicate 3, or overtake it).
        transport.buffered = 0
        session.offer(event(3))
        session.offer(event(4))
        assert transport.written == []
        ws.hold.set()
        await settle()
        assert ws.sent == [event(3).frame(for_job=True), event(4).frame(for_job=True)]
        # Idle again with an empty buffer: back to direct writes.
        session.offer(event(5))
        assert transport.written == [event(5).wire(for_job=True)]
    finally:
        runner.cancel()


async def test_an_event_after_a_gap_is_not_written_directly() -> None:
    session, _, transport = new_session()
    session.offer(event(4))  # 3 is missing: the task must read it from Redis first
    assert transport.written == []
    assert session.jobs["J"].last_seq == 2
