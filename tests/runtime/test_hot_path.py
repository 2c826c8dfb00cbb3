"""Hot-path shortcuts keep their guarantees (real broker and Redis): skipped spans keep the
trace, a submit that lost the race to its worker gets the worker's record (events written
together: tests/runtime/transport/test_amqp_events.py)."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.telemetry import (
    child_spans_recorded,
    consumer_span_recorded,
    current_trace_id,
    extract_context,
    inject_headers,
    publish_span,
    remote_child_span,
    setup_tracing,
    tracer,
)


def test_spans_that_cannot_be_recorded_are_skipped_but_keep_the_trace() -> None:
    setup_tracing("tests", "tests")  # no exporter: ParentBased(ALWAYS_OFF)
    with tracer.start_as_current_span("unsampled root") as root:
        assert not child_spans_recorded()
        headers = inject_headers({})
        before = dict(headers)
        with publish_span("events", "job.x", headers):
            pass
        assert headers == before  # no span: the message carries the announcing span's context
        trace_id = format(root.get_span_context().trace_id, "032x")
        assert headers["traceparent"].split("-")[1] == trace_id

    # A sampled parent (a publisher that exports) is still honoured with a recorded span.
    sampled = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
    with publish_span("events", "job.x", sampled):
        assert trace.get_current_span().is_recording()
        assert child_spans_recorded()
    _, trace_id, span_id, flags = sampled["traceparent"].split("-")
    assert (trace_id, flags) == ("ab" * 16, "01") and span_id != "cd" * 8


@pytest.mark.parametrize("sampled", [False, True])
def test_a_remote_child_span_is_made_only_when_it_can_be_recorded(sampled: bool) -> None:
    setup_tracing("tests", "tests")  # no exporter: ParentBased(ALWAYS_OFF)
    flags = "01" if sampled else "00"
    parent = extract_context({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}"})

    with remote_child_span(
        "process job.x", parent, kind=SpanKind.CONSUMER, attributes={"conveyor.job_id": "j"}
    ) as span:
        current = trace.get_current_span().get_span_context()
        assert span.get_span_context() == current
        assert current_trace_id() == "ab" * 16  # the trace goes on either way
        assert span.is_recording() is sampled
        # Unsampled: the parent itself is current (no span); sampled: a child of it.
        assert (format(current.span_id, "016x") == "cd" * 8) is not sampled
    assert current_trace_id() is None  # the message's context does not outlive the block


@pytest.mark.parametrize(
    ("headers", "recorded"),
    [
        ({}, False),
        ({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-00"}, False),
        ({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01".encode()}, True),
        ({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}, True),
        ({"traceparent": "not a traceparent"}, False),
    ],
)
def test_a_consumer_knows_from_the_headers_alone_whether_a_span_would_be_recorded(
    headers: dict[str, object], recorded: bool
) -> None:
    setup_tracing("tests", "tests")  # no exporter: ParentBased(ALWAYS_OFF)
    assert consumer_span_recorded(headers) is recorded
    with remote_child_span(
        "process job.x", extract_context(headers), kind=SpanKind.CONSUMER, attributes={}
    ) as span:
        assert span.is_recording() is recorded


def test_a_remote_child_span_without_a_parent_starts_a_new_unrecorded_trace() -> None:
    setup_tracing("tests", "tests")  # no exporter: ParentBased(ALWAYS_OFF)
    seen = set()
    for _ in range(3):
        with remote_child_span(
            "process job.x", extract_context({}), kind=SpanKind.CONSUMER, attributes={}
        ) as span:
            assert not span.is_recording() and span.get_span_context().is_valid
            trace_id = current_trace_id()
            assert trace_id is not None and len(trace_id) == 32
            assert inject_headers({})["traceparent"].split("-")[1] == trace_id
            seen.add(trace_id)
    assert len(seen) == 3  # a new trace each time


async def test_a_submit_that_lost_the_race_to_its_worker_gets_the_workers_record(
    module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    raced = JobEnvelope(request=DiagnosticsRequest(numbers=[1, 2]), owner="racer")
    ids = {"job_id": raced.job_id, "job_type": raced.job_type, "owner": raced.owner}
    # A fast worker took the message and started the job before the submit recorded it.
    await module_store.start(
        raced,
        JobQueued(**ids),
        JobStarted(**ids, worker="w-1"),
        worker="w-1",
        max_crashes=3,
        trace_id=None,
    )
    existing = await module_lifecycle.submit_or_existing(raced)
    assert existing is not None
    assert existing == await module_store.get(raced.job_id)
    assert (existing.state, existing.request, existing.last_seq) == (
        JobState.RUNNING,
        raced.request,
        2,
    )

    fresh = JobEnvelope(request=DiagnosticsRequest(numbers=[3]), owner="racer")
    assert await module_lifecycle.submit_or_existing(fresh) is None
    created = await module_store.get(fresh.job_id)
    assert created is not None and created.state == JobState.QUEUED
