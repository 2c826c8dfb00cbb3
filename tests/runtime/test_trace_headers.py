"""``inject_headers`` writes what OpenTelemetry's own propagators write (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from conveyor.runtime.telemetry import inject_headers


def span_context(flags: int, state: TraceState | None = None) -> SpanContext:
    return SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(flags),
        trace_state=state,
    )


CONTEXTS = {
    "no span": otel_context.Context(),
    "sampled": trace.set_span_in_context(NonRecordingSpan(span_context(1))),
    "unsampled": trace.set_span_in_context(NonRecordingSpan(span_context(0))),
    "trace state": trace.set_span_in_context(
        NonRecordingSpan(span_context(1, TraceState([("vendor", "v1"), ("other", "x")])))
    ),
    "baggage": baggage.set_baggage(
        "tenant", "acme", trace.set_span_in_context(NonRecordingSpan(span_context(1)))
    ),
}


@pytest.mark.parametrize("name", CONTEXTS)
def test_matches_the_propagators(name: str) -> None:
    token = otel_context.attach(CONTEXTS[name])
    try:
        ours: dict[str, Any] = inject_headers({"x-cursor": "1-0"})
        theirs: dict[str, Any] = {"x-cursor": "1-0"}
        propagate.inject(theirs)
    finally:
        otel_context.detach(token)
    assert ours == theirs
    if name != "no span":
        assert ours["traceparent"].startswith(
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-"
        )
