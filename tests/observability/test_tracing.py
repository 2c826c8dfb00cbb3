"""One trace per job, exported over OTLP/HTTP by real service processes to a real receiver.

The receiver decodes the protobuf the SDK sends; the test checks that the gateway's HTTP span,
its publish, the worker's consume, handler, phase and Redis spans and every event publish
share one trace id with the right parent/child links, and that a job an outside service
published straight to RabbitMQ continues the publisher's ``traceparent``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import ExportRequest, JobEnvelope, Priority
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import FOLDED_EVENTS_ATTRIBUTE
from conveyor.runtime.tokens import mint_token
from tests.gateway.helpers import SECRET
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan, running_otlp_receiver
from tests.observability.processes import stop
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, wait_for_state
from tests.support.services import running_worker, start_gateway

FOLDED = FOLDED_EVENTS_ATTRIBUTE

SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL = 2, 3, 4, 5, 1
"""``opentelemetry.proto.trace.v1.Span.SpanKind`` values."""


@pytest.fixture(scope="module")
async def traced(
    module_namespace: str, redis: Redis, data_dir: Path
) -> AsyncIterator[tuple[OtlpReceiver, str]]:
    """A receiver; a gateway, an export and a maintenance worker exporting to it.

    Yields the receiver and the gateway's URL.
    """
    async with running_otlp_receiver() as otlp:
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        gateway, url = await start_gateway(module_namespace, CONVEYOR_JWT_SECRET=SECRET, **otel)
        try:
            async with (
                running_worker(
                    "conveyor.export_worker",
                    module_namespace,
                    redis,
                    CONVEYOR_DATA_DIR=str(data_dir),
                    # A long fold window: the export's started and succeeded go out as one
                    # folded message, and each must still have its own publish span.
                    CONVEYOR_EVENT_FOLD_WINDOW="1",
                    CONVEYOR_PROGRESS_INTERVAL="1",
                    **otel,
                ),
                running_worker(MAINTENANCE, module_namespace, redis, **otel, **FAST_WORKER_ENV),
            ):
                yield otlp, url
        finally:
            await stop(gateway)


def _one(spans: list[ReceivedSpan], name: str, service: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.service == service]
    assert len(found) == 1, (name, service, [(s.service, s.name) for s in spans])
    return found[0]


async def test_an_http_submitted_job_is_one_trace_from_request_to_last_event(
    traced: tuple[OtlpReceiver, str], module_store: JobStore
) -> None:
    otlp, url = traced
    headers = {
        "Authorization": f"Bearer {mint_token(SECRET, 'tracy')}",
        "Idempotency-Key": os.urandom(8).hex(),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/jobs/export", json={"format": "csv"}, headers=headers) as sent,
    ):
        assert sent.status == 202, await sent.text()
        job_id = (await sent.json())["job_id"]
    record = await wait_for_state(module_store, job_id, {JobState.SUCCEEDED})
    assert record.trace_id is not None
    succeeded = "publish job.tracy.succeeded.export"
    # Spans arrive in batches as they end (the consume span ends last): wait for all of them.
    wanted = {
        "POST /api/v1/jobs/{type}",
        "publish job.export",
        "process job.export",
        "handle export",
        "query",
        "write",
        "redis admit_submission",
        "redis create",
        "redis start",
        "redis transition",
        "publish job.tracy.queued.export",
        "publish job.tracy.started.export",
        succeeded,
    }
    await otlp.wait_for(lambda _: wanted <= {s.name for s in otlp.in_trace(record.trace_id)})
    spans = otlp.in_trace(record.trace_id)
    by_id = {s.span_id: s for s in spans}

    request = _one(spans, "POST /api/v1/jobs/{type}", "conveyor-gateway")
    publish = _one(spans, "publish job.export", "conveyor-gateway")
    consume = _one(spans, "process job.export", "conveyor-export")
    handle = _one(spans, "handle export", "conveyor-export")
    query = _one(spans, "query", "conveyor-export")
    write = _one(spans, "write", "conveyor-export")
    assert (request.kind, publish.kind, consume.kind) == (SERVER, PRODUCER, CONSUMER)
    assert handle.kind == query.kind == write.kind == INTERNAL
    assert request.parent_id == ""  # the trace's root
    assert publish.parent_id == request.span_id
    assert consume.parent_id == publish.span_id  # across the broker, via AMQP headers
    assert handle.parent_id == consume.span_id
    assert query.parent_id == handle.span_id and write.parent_id == handle.span_id
    assert handle.attributes["conveyor.job_id"] == job_id

    # Redis: the gateway claims the idempotency key (with its limits) and records the job, the
    # worker starts it and records its outcome.
    redis_spans = [s for s in spans if s.name.startswith("redis ")]
    assert {(s.service, s.name) for s in redis_spans} >= {
        ("conveyor-gateway", "redis admit_submission"),
        ("conveyor-gateway", "redis create"),
        ("conveyor-export", "redis start"),
        ("conveyor-export", "redis transition"),
    }
    assert all(s.kind == CLIENT for s in redis_spans)
    assert _one(spans, "redis start", "conveyor-export").parent_id == consume.span_id

    # Every event is published in the trace: queued by the gateway, the rest by the worker.
    events = {s.name for s in spans if s.name.startswith("publish job.tracy.")}
    assert {"publish job.tracy.queued.export", "publish job.tracy.started.export", succeeded} <= (
        events
    )
    assert _one(spans, succeeded, "conveyor-export").parent_id == consume.span_id
    # The worker folded them into one message (started and succeeded, or with progress): each
    # event still has its publish span, in its announcer's trace, saying it was folded.
    started = _one(spans, "publish job.tracy.started.export", "conveyor-export")
    assert started.parent_id == consume.span_id
    folded = {
        started.attributes.get(FOLDED),
        _one(spans, succeeded, "conveyor-export").attributes.get(FOLDED),
    }
    assert len(folded) == 1 and int(folded.pop() or 0) >= 2

    # No span of the job points outside it: one connected tree.
    assert all(s.parent_id in by_id for s in spans if s is not request)


async def test_a_job_published_straight_to_rabbitmq_continues_the_publishers_trace(
    traced: tuple[OtlpReceiver, str], module_broker: Broker, module_store: JobStore
) -> None:
    otlp, _ = traced
    trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
    envelope = JobEnvelope(
        request=ExportRequest(format="parquet"), owner="outsider", priority=Priority.BULK
    )
    await module_broker.publish(
        module_broker.topology.jobs,
        job_routing_key("export"),
        encode(envelope),
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    record = await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    assert record.trace_id == trace_id
    await otlp.wait_for(lambda _: {"process job.export", "handle export", "write"} <= {
        s.name for s in otlp.in_trace(trace_id)
    })  # fmt: skip
    spans = otlp.in_trace(trace_id)
    consume = _one(spans, "process job.export", "conveyor-export")
    handle = _one(spans, "handle export", "conveyor-export")
    assert consume.parent_id == parent_id
    assert handle.parent_id == consume.span_id
    assert _one(spans, "write", "conveyor-export").parent_id == handle.span_id
    assert not [s for s in spans if s.service == "conveyor-gateway"]


async def test_a_retried_job_stays_in_its_trace_through_the_delay_queue(
    traced: tuple[OtlpReceiver, str], module_store: JobStore
) -> None:
    otlp, url = traced
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'tracy')}"}
    body = {"numbers": [1], "fail_attempts": 1}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/jobs/diagnostics", json=body, headers=headers) as sent,
    ):
        assert sent.status == 202, await sent.text()
        job_id = (await sent.json())["job_id"]
    record = await wait_for_state(module_store, job_id, {JobState.SUCCEEDED})
    assert record.trace_id is not None
    trace_id = record.trace_id

    def two_attempts(_: list[ReceivedSpan]) -> bool:
        # Each attempt's consume span ends after its handler span, so wait for both kinds.
        spans = otlp.in_trace(trace_id)
        handled = sum(s.name == "handle diagnostics" for s in spans)
        processed = sum(s.name == "process job.diagnostics" for s in spans)
        return handled == 2 and processed == 2

    await otlp.wait_for(two_attempts)
    spans = otlp.in_trace(trace_id)
    first, second = sorted(
        (s for s in spans if s.name == "process job.diagnostics"),
        key=lambda s: s.attributes["conveyor.attempt"],
    )
    retry = _one(spans, "publish job.diagnostics", "conveyor-maintenance")
    assert (first.attributes["conveyor.attempt"], second.attributes["conveyor.attempt"]) == (
        "1",
        "2",
    )
    assert retry.kind == PRODUCER and retry.parent_id == first.span_id
    assert second.parent_id == retry.span_id  # through the delay queue, via AMQP headers
    assert _one(spans, "publish job.tracy.retrying.diagnostics", "conveyor-maintenance")
