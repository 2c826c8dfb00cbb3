"""OpenTelemetry setup and W3C trace context carried in AMQP headers.

Export is configured by the standard ``OTEL_*`` variables: spans are exported over OTLP/HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific variable) is set and
``OTEL_TRACES_EXPORTER`` is not ``none``. Without an exporter, spans still get ids, so logs and
job records carry trace ids either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer = trace.get_tracer("conveyor")

_provider: TracerProvider | None = None


def setup_tracing(service: str, instance: str, environ: Mapping[str, str] | None = None) -> None:
    """Install the process's tracer provider once; later calls are no-ops."""
    global _provider
    if _provider is not None:
        return
    env = os.environ if environ is None else environ
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME", f"conveyor-{service}"),
         "service.instance.id": instance}
    )  # fmt: skip
    provider = TracerProvider(resource=resource)
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint and env.get("OTEL_TRACES_EXPORTER", "otlp") != "none":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider


def shutdown_tracing() -> None:
    """Flush and stop exporting (call on shutdown so the last spans are not lost)."""
    if _provider is not None:
        _provider.shutdown()


def inject_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Add the current context's ``traceparent``/``tracestate`` to ``headers``; returns them."""
    propagate.inject(headers)
    return headers


def extract_context(*carriers: Mapping[str, Any] | None) -> otel_context.Context:
    """The remote parent context from the first carrier that has a ``traceparent``."""
    for carrier in carriers:
        if carrier and "traceparent" in carrier:
            return propagate.extract({k: _text(v) for k, v in carrier.items()})
    return otel_context.get_current()


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
