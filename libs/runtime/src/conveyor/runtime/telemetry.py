"""OpenTelemetry setup and W3C trace context carried in AMQP headers.

Export is configured by the standard ``OTEL_*`` variables: spans are exported over OTLP/HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variable) is set and
``OTEL_TRACES_EXPORTER`` is not ``none``. Without an exporter, spans are not recorded but still
get ids, so logs and job records carry trace ids either way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanContext, SpanKind

tracer = trace.get_tracer("conveyor")
_ids = RandomIdGenerator()

_provider: TracerProvider | None = None
_unsampled_stay_unrecorded = False
"""True when the sampler is our ParentBased(ALWAYS_OFF): a child of an unsampled span can never
be recorded, so the helpers below skip creating it (same trace id, a fraction of the cost)."""


def setup_tracing(service: str, instance: str, environ: Mapping[str, str] | None = None) -> None:
    """Install the process's tracer provider once; later calls are no-ops."""
    global _provider, _unsampled_stay_unrecorded
    if _provider is not None:
        return
    env = os.environ if environ is None else environ
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME", f"conveyor-{service}"),
         "service.instance.id": instance}
    )  # fmt: skip
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporting = bool(endpoint) and env.get("OTEL_TRACES_EXPORTER", "otlp") != "none"
    # Nothing would receive the spans: record none (unless a sampler is configured), which
    # keeps ids and propagation (logs, records, headers) at a third of a recorded span's cost.
    # A sampled parent from an exporting publisher is still honoured.
    sampler = None if exporting or "OTEL_TRACES_SAMPLER" in env else ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _unsampled_stay_unrecorded = sampler is not None


def shutdown_tracing() -> None:
    """Flush and stop exporting (call on shutdown so the last spans are not lost)."""
    if _provider is not None:
        _provider.shutdown()


_DEFAULT_PROPAGATORS = os.environ.get("OTEL_PROPAGATORS", "tracecontext,baggage").replace(
    " ", ""
) in ("tracecontext,baggage", "tracecontext")
"""The propagators are the W3C ones only, so ``inject_headers`` may write them itself."""


def inject_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Add the current context's ``traceparent``/``tracestate`` to ``headers``; returns them.

    With the default propagators and no baggage, the headers are written directly, as the
    W3C propagator would (a tenth of the cost of going through the composite propagator, on
    every job and event).
    """
    if not _DEFAULT_PROPAGATORS or baggage.get_all():
        propagate.inject(headers)
        return headers
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        headers["traceparent"] = (
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
            f"-{span_context.trace_flags:02x}"
        )
        if span_context.trace_state:
            headers["tracestate"] = span_context.trace_state.to_header()
    return headers


def extract_context(*carriers: Mapping[str, Any] | None) -> otel_context.Context:
    """The remote parent context from the first carrier that has a ``traceparent``."""
    for carrier in carriers:
        if carrier and "traceparent" in carrier:
            return propagate.extract({k: _text(v) for k, v in carrier.items()})
    return otel_context.get_current()


def child_spans_recorded() -> bool:
    """Whether a child of the current span could be recorded; if not, hot paths skip it."""
    return (
        not _unsampled_stay_unrecorded
        or trace.get_current_span().get_span_context().trace_flags.sampled
    )


def consumer_span_recorded(headers: Mapping[str, Any]) -> bool:
    """Whether ``remote_child_span`` would record a span for a message with ``headers``.

    Under our ParentBased(ALWAYS_OFF) sampler only a sampled ``traceparent`` makes one: a hot
    consumer checks this first and skips extracting the context at all.
    """
    if not _unsampled_stay_unrecorded:
        return True
    value = headers.get("traceparent")
    if value is None:
        return False
    text = _text(value)
    try:
        return len(text) == 55 and bool(int(text[-2:], 16) & 1)
    except ValueError:
        return False


def _unsampled_traceparent(headers: Mapping[str, Any]) -> bool:
    """Whether ``headers`` carry a W3C traceparent whose sampled flag is off."""
    value = headers.get("traceparent")
    if value is None:
        return False
    text = _text(value)
    try:
        return len(text) == 55 and not int(text[-2:], 16) & 1
    except ValueError:
        return False


@contextlib.contextmanager
def redis_span(operation: str) -> Iterator[None]:
    """A CLIENT span around one Redis operation (e.g. a job-store script) of the current trace."""
    if not child_spans_recorded():
        yield
        return
    with tracer.start_as_current_span(
        f"redis {operation}",
        kind=SpanKind.CLIENT,
        attributes={"db.system": "redis", "db.operation": operation},
    ):
        yield


def publish_span_recorded(headers: Mapping[str, Any]) -> bool:
    """Whether ``publish_span`` would record a span for a message with ``headers``."""
    return not (_unsampled_stay_unrecorded and _unsampled_traceparent(headers))


@contextlib.contextmanager
def publish_span(
    exchange: str,
    routing_key: str,
    headers: dict[str, Any],
    attributes: Mapping[str, int | str] | None = None,
) -> Iterator[None]:
    """A PRODUCER span for one message, child of the context already in ``headers`` (if any).

    On entry the span's own context replaces ``traceparent`` in ``headers``, so consumers of
    the message become children of the publish, not of whatever queued it. A span that could
    not be recorded is skipped: the headers keep their (unsampled) context and trace id.
    """
    if not publish_span_recorded(headers):
        yield
        return
    with tracer.start_as_current_span(
        f"publish {routing_key}",
        # Without a traceparent: a new trace, never the (unrelated) context of the caller.
        context=extract_context(headers) if "traceparent" in headers else otel_context.Context(),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": routing_key,
            **(attributes or {}),
        },
    ):
        propagate.inject(headers)
        yield


@contextlib.contextmanager
def remote_child_span(
    name: str,
    parent: otel_context.Context,
    *,
    kind: SpanKind,
    attributes: Mapping[str, str | int],
) -> Iterator[trace.Span]:
    """A span of ``kind`` (SERVER, CONSUMER), child of ``parent`` (the context extracted from
    a request or message), made current.

    When the parent is unsampled and our sampler could never record the child, no span is
    made: ``parent`` itself becomes current (or, with no parent, a non-recording span with new
    ids), so the trace id still reaches logs, records and the headers of whatever is
    published. The span yielded then is not recording (setting its status does nothing).
    """
    remote = trace.get_current_span(parent).get_span_context()
    if _unsampled_stay_unrecorded and not remote.trace_flags.sampled:
        if not remote.is_valid:  # a new trace, which our sampler would not record either
            root = SpanContext(_ids.generate_trace_id(), _ids.generate_span_id(), is_remote=False)
            parent = trace.set_span_in_context(trace.NonRecordingSpan(root), parent)
        token = otel_context.attach(parent)
        try:
            yield trace.get_current_span(parent)
        finally:
            otel_context.detach(token)
        return
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes
    ) as span:
        yield span


@contextlib.contextmanager
def phase_span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """An INTERNAL span for one phase of a handler (``query``, ``write``, ...); an exception
    escaping it is recorded on it."""
    if not child_spans_recorded():
        yield
        return
    with tracer.start_as_current_span(name, attributes=attributes):
        yield


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
