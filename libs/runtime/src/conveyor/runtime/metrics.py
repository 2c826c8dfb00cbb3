"""Prometheus metrics of a Conveyor process, on a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_DURATION_BUCKETS = (0.005, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600)


class Metrics:
    """Every metric Conveyor services export; services use the ones that apply to them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.jobs_submitted = Counter(
            "conveyor_jobs_submitted", "Jobs accepted for queueing", ["job_type"], registry=r
        )
        self.jobs_finished = Counter(
            "conveyor_jobs_finished",
            "Jobs finished, by outcome",
            ["job_type", "outcome"],
            registry=r,
        )
        self.job_retries = Counter(
            "conveyor_job_retries", "Attempts republished for retry", ["job_type"], registry=r
        )
        self.dead_letters = Counter(
            "conveyor_dead_letters", "Messages dead-lettered", ["job_type", "code"], registry=r
        )
        self.jobs_in_flight = Gauge(
            "conveyor_jobs_in_flight", "Jobs running in this process", ["job_type"], registry=r
        )
        self.job_duration = Histogram(
            "conveyor_job_duration_seconds", "Handler run time", ["job_type"],
            buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "conveyor_job_queue_wait_seconds", "From creation to start of an attempt", ["job_type"],
            buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.publish_latency = Histogram(
            "conveyor_publish_confirm_seconds", "Publish until the broker's confirm", ["exchange"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_messages = Gauge(
            "conveyor_queue_messages", "Messages ready in a queue (sampled)", ["queue"], registry=r
        )
        self.queue_consumers = Gauge(
            "conveyor_queue_consumers", "Consumers of a queue (sampled)", ["queue"], registry=r
        )
        self.workers = Gauge(
            "conveyor_workers",
            "Worker instances by service and heartbeat state (alive, dead), from the registry",
            ["service", "state"],
            registry=r,
        )
        self.http_requests = Counter(
            "conveyor_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.ws_connections = Gauge(
            "conveyor_websocket_connections", "Open WebSocket connections", registry=r
        )
        self.ws_events_sent = Counter(
            "conveyor_websocket_events_sent", "Events sent to WebSocket clients", registry=r
        )
        self.ws_history_reads = Counter(
            "conveyor_websocket_history_reads",
            "Reads of a job's or an owner's Redis history by WebSocket sessions, by reason: "
            "subscribe (a subscription's start), gap (a live event came before one it follows), "
            "resync (the session's live events were dropped)",
            ["reason"],
            registry=r,
        )
        self.redis_replication_short = Counter(
            "conveyor_redis_replication_short",
            "Writes that fewer replicas than CONVEYOR_REDIS_WAIT_REPLICAS acknowledged in time",
            registry=r,
        )
        self.limit_refusals = Counter(
            "conveyor_limit_refusals", "Requests refused by a per-user limit", ["limit"], registry=r
        )
        self.jobs_set_aside = Counter(
            "conveyor_jobs_set_aside",
            "Job messages set aside because their owner had its share of this worker",
            ["job_type"],
            registry=r,
        )
        self.jobs_unconfirmed = Counter(
            "conveyor_jobs_unconfirmed",
            "Submitted jobs whose publish got no confirm, kept to be published again",
            registry=r,
        )
        self.jobs_republished = Counter(
            "conveyor_jobs_republished",
            "Unconfirmed jobs published again, by outcome (confirmed, already_delivered)",
            ["outcome"],
            registry=r,
        )
        self.messages_consumed = Counter(
            "conveyor_messages_consumed",
            "Messages taken from a subscription, by outcome (handled, undecodable, failed)",
            ["subscription", "outcome"],
            registry=r,
        )

        self._job_types: dict[str, JobTypeSeries] = {}

    def job_type(self, job_type: str) -> JobTypeSeries:
        """The per-job series a worker touches for every job of ``job_type``, looked up once
        (``labels`` takes a lock and builds a key on each call)."""
        series = self._job_types.get(job_type)
        if series is None:
            series = self._job_types[job_type] = JobTypeSeries(
                queue_wait=self.queue_wait.labels(job_type),
                in_flight=self.jobs_in_flight.labels(job_type),
                duration=self.job_duration.labels(job_type),
                succeeded=self.jobs_finished.labels(job_type, "succeeded"),
            )
        return series

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class JobTypeSeries:
    """One job type's series of the metrics above (see ``Metrics.job_type``)."""

    queue_wait: Histogram
    in_flight: Gauge
    duration: Histogram
    succeeded: Counter
