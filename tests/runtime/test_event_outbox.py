"""The event outbox holds and folds a job's close events (no broker: a recording publisher).

The real broker and worker: tests/runtime/test_folded_events.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.events import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.folded_events import FoldedJobEvents, job_events_of
from conveyor.contracts.topology import HEADER_CURSOR, HEADER_FOLDED, HEADER_PREV_CURSOR
from conveyor.runtime.event_outbox import Entry, EventOutbox, message_of
from conveyor.runtime.jobstore import Appended
from conveyor.runtime.settings import SettingsError, WorkerSettings, load_settings

WINDOW = 0.2


class Recorder:
    """A publisher that records each write's groups and when it happened."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, list[list[Entry]]]] = []
        self.written = asyncio.Event()

    async def __call__(self, groups: list[list[Entry]]) -> None:
        self.writes.append((asyncio.get_running_loop().time(), groups))
        self.written.set()

    @property
    def groups(self) -> list[list[tuple[str, int]]]:
        """Each published message as its events' (job id, seq), in publish order."""
        return [
            [(event.job_id, appended.seq) for event, appended, _ in group]
            for _, groups in self.writes
            for group in groups
        ]


class Stream:
    """Records events as the job store would: a seq per job, one owner stream of cursors."""

    def __init__(self) -> None:
        self.seqs: dict[str, int] = {}
        self.last = 0

    def entry(self, event: JobEvent) -> Entry:
        seq = self.seqs[event.job_id] = self.seqs.get(event.job_id, 0) + 1
        event.seq = seq
        prev, self.last = self.last, self.last + 1
        body = msgspec.json.encode(event)
        appended = Appended(seq=seq, cursor=f"{self.last}-0", prev_cursor=f"{prev}-0", body=body)
        headers: dict[str, Any] = {
            HEADER_CURSOR: appended.cursor,
            HEADER_PREV_CURSOR: appended.prev_cursor,
        }
        return event, appended, headers


def queued(job_id: str) -> JobQueued:
    return JobQueued(job_id=job_id, job_type="diagnostics", owner="o")


def started(job_id: str) -> JobStarted:
    return JobStarted(job_id=job_id, job_type="diagnostics", owner="o", worker="w")


def progressed(job_id: str, done: int = 1) -> JobProgressed:
    return JobProgressed(job_id=job_id, job_type="diagnostics", owner="o", done=done)


def succeeded(job_id: str) -> JobSucceeded:
    return JobSucceeded(job_id=job_id, job_type="diagnostics", owner="o")


async def settle(outbox: EventOutbox) -> None:
    """Let the outbox task publish what is ready."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_job_done_within_the_window_is_one_message_published_at_its_final_event() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW)
    loop = asyncio.get_running_loop()
    start = loop.time()
    outbox.put(stream.entry(queued("a")))
    outbox.put(stream.entry(started("a")))
    await settle(outbox)
    assert (recorder.writes, len(outbox)) == ([], 2)  # held: nothing of the job went out yet
    outbox.put(stream.entry(succeeded("a")))
    await asyncio.wait_for(recorder.written.wait(), 1)
    # The final event ends the hold at once, long before the window would.
    assert recorder.writes[0][0] - start < WINDOW / 2
    assert recorder.groups == [[("a", 1), ("a", 2), ("a", 3)]]
    await outbox.drain(1)


async def test_the_folded_message_is_routed_by_its_last_event_and_spans_the_owner_stream() -> None:
    stream = Stream()
    group = [stream.entry(queued("a")), stream.entry(started("a")), stream.entry(succeeded("a"))]
    key, body, headers = message_of(group)
    assert key == "job.o.succeeded.diagnostics"
    assert headers[HEADER_FOLDED] == "3"
    assert (headers[HEADER_PREV_CURSOR], headers[HEADER_CURSOR]) == ("0-0", "3-0")
    folded = msgspec.json.decode(body, type=FoldedJobEvents)
    assert [(f.event.seq, f.prev_cursor, f.cursor) for f in folded.events] == [
        (1, "0-0", "1-0"),
        (2, "1-0", "2-0"),
        (3, "2-0", "3-0"),
    ]
    assert [type(e) for e in job_events_of(body)] == [JobQueued, JobStarted, JobSucceeded]
    # Each event is exactly its recorded body: the history and the live copy are the same JSON.
    assert [msgspec.json.encode(f.event) for f in folded.events] == [a.body for _, a, _ in group]
    # One event goes out as itself, unchanged.
    assert message_of(group[:1]) == ("job.o.queued.diagnostics", group[0][1].body, group[0][2])


async def test_a_held_group_goes_out_alone_when_the_window_ends() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW)
    loop = asyncio.get_running_loop()
    start = loop.time()
    outbox.put(stream.entry(queued("a")))
    outbox.put(stream.entry(started("a")))
    await asyncio.wait_for(recorder.written.wait(), 2)
    assert WINDOW * 0.9 <= recorder.writes[0][0] - start < WINDOW + 0.1
    assert recorder.groups == [[("a", 1), ("a", 2)]]
    # A later event of the job starts a hold of its own; a final one goes out at once.
    outbox.put(stream.entry(succeeded("a")))
    await settle(outbox)
    assert recorder.groups == [[("a", 1), ("a", 2)], [("a", 3)]]
    await outbox.drain(1)


async def test_jobs_are_held_apart_and_a_job_keeps_its_order() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW)
    outbox.put(stream.entry(queued("a")))
    outbox.put(stream.entry(queued("b")))
    outbox.put(stream.entry(started("a")))
    outbox.put(stream.entry(started("b")))
    outbox.put(stream.entry(succeeded("b")))  # b finishes first: b goes out first
    await settle(outbox)
    assert recorder.groups == [[("b", 1), ("b", 2), ("b", 3)]]
    outbox.put(stream.entry(progressed("a")))
    outbox.put(stream.entry(JobFailed(job_id="a", job_type="diagnostics", owner="o", error=_err())))
    await settle(outbox)
    assert recorder.groups[1:] == [[("a", 1), ("a", 2), ("a", 3), ("a", 4)]]
    await outbox.drain(1)


async def test_windows_end_in_the_order_the_jobs_began() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW)
    outbox.put(stream.entry(queued("a")))
    await asyncio.sleep(WINDOW / 2)
    outbox.put(stream.entry(queued("b")))
    outbox.put(stream.entry(started("a")))
    await asyncio.wait_for(recorder.written.wait(), 2)
    assert recorder.groups == [[("a", 1), ("a", 2)]]  # b's window has not ended yet
    recorder.written.clear()
    await asyncio.wait_for(recorder.written.wait(), 2)
    assert recorder.groups == [[("a", 1), ("a", 2)], [("b", 1)]]
    # Each went out when its own window ended, half a window apart.
    (first, _), (second, _) = recorder.writes
    assert WINDOW * 0.4 <= second - first <= WINDOW * 0.6 + 0.05
    await outbox.drain(1)


async def test_a_final_event_alone_and_every_event_without_a_window_go_out_at_once() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW)
    outbox.put(stream.entry(JobCancelled(job_id="a", job_type="diagnostics", owner="o")))
    await settle(outbox)
    assert recorder.groups == [[("a", 1)]]

    unfolded = Recorder()
    plain = EventOutbox(unfolded, fold_window=0)
    plain.put(stream.entry(queued("b")))
    plain.put(stream.entry(started("b")))
    plain.put(stream.entry(succeeded("b")))
    await settle(plain)
    assert unfolded.groups == [[("b", 1)], [("b", 2)], [("b", 3)]]
    await outbox.drain(1)
    await plain.drain(1)


async def test_writes_and_folded_messages_are_bounded() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=WINDOW, max_per_write=8, max_folded=3)
    # A chatty job: every third event closes a full group, which goes out without waiting.
    for done in range(6):
        outbox.put(stream.entry(progressed("chatty", done)))
    await settle(outbox)
    assert [len(g) for g in recorder.groups] == [3, 3]
    recorder.writes.clear()
    # 20 jobs done at once: 20 groups of 3 events, at most 8 events per write, none split.
    for job in range(20):
        for make in (queued, started, succeeded):
            outbox.put(stream.entry(make(f"j{job}")))
    await outbox.drain(1)
    sizes = [sum(map(len, groups)) for _, groups in recorder.writes]
    assert all(size <= 8 for size in sizes) and sum(sizes) == 60
    assert [g[0][0] for g in recorder.groups] == [f"j{job}" for job in range(20)]
    assert all(len(g) == 3 for g in recorder.groups)


async def test_drain_publishes_held_events_without_waiting_for_their_window() -> None:
    recorder, stream = Recorder(), Stream()
    outbox = EventOutbox(recorder, fold_window=10.0)
    outbox.put(stream.entry(queued("a")))
    outbox.put(stream.entry(queued("b")))
    assert len(outbox) == 2
    async with asyncio.timeout(1):
        await outbox.drain(5)
    assert recorder.groups == [[("a", 1)], [("b", 1)]]
    assert len(outbox) == 0


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="fold_window"):
        EventOutbox(Recorder(), fold_window=-1)


def _err() -> JobError:
    return JobError(code=ErrorCode.INTERNAL, message="boom")


@pytest.mark.parametrize(
    ("environ", "window"),
    [
        ({}, 0.05),
        ({"CONVEYOR_EVENT_FOLD_WINDOW": "0"}, 0.0),
        ({"CONVEYOR_EVENT_FOLD_WINDOW": "0.2"}, 0.2),
        # Never longer than the progress interval: progress as it happens folds nothing.
        ({"CONVEYOR_EVENT_FOLD_WINDOW": "0.2", "CONVEYOR_PROGRESS_INTERVAL": "0.05"}, 0.05),
        ({"CONVEYOR_PROGRESS_INTERVAL": "0"}, 0.0),
    ],
)
def test_the_workers_fold_window_is_the_setting_at_most_the_progress_interval(
    environ: dict[str, str], window: float
) -> None:
    assert load_settings(WorkerSettings, environ).fold_window == window


def test_a_fold_window_out_of_bounds_is_refused_with_a_sentence() -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_EVENT_FOLD_WINDOW"):
        load_settings(WorkerSettings, {"CONVEYOR_EVENT_FOLD_WINDOW": "5"})
