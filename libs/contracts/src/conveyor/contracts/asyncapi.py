"""The AsyncAPI 2.6 document of Conveyor's AMQP interface, generated from the contracts.

It names every exchange, routing key and message (JSON Schemas from msgspec), so a service
in any language can publish jobs and consume events without importing Python. Channels are
routing keys; each channel's ``bindings.amqp.exchange`` names the exchange to use. In AsyncAPI
2.x terms a ``publish`` operation is one other applications perform (jobs, domain events),
``subscribe`` one they receive (job events, domain events).
"""

from __future__ import annotations

import inspect
import re
import urllib.parse
from typing import Any

import msgspec

from conveyor.contracts.control import AnyControlCommand
from conveyor.contracts.events import (
    JOB_EVENT_KINDS,
    DatasetUpdated,
    DatasetValidationFailed,
    SystemHealthReported,
)
from conveyor.contracts.folded_events import FoldedJobEvents
from conveyor.contracts.jobs import JOB_REQUEST_TYPES, JobEnvelope, Priority
from conveyor.contracts.topology import (
    HEADER_CURSOR,
    HEADER_FOLDED,
    HEADER_PREV_CURSOR,
    Topology,
    control_routing_key,
    job_routing_key,
    lane_routing_key,
)

ASYNCAPI_VERSION = "2.6.0"
_REF = "#/components/schemas/{name}"
_AMQP_BINDING = "0.2.0"
DEFAULT_SERVER_URL = "amqp://localhost:5672"
LICENSE_NAME = "Proprietary"
"""The repository grants no open-source license."""
CONTACT = {
    "name": "Conveyor maintainers",
    "url": "https://b-seed-dc73078f.example/conveyor",
    "email": "maintainers@users.noreply.b-seed-dc73078f.example",
}
"""Who answers for the interface: the maintainers' address of the repository's commits."""

_TRACEPARENT = {
    "type": "string",
    "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    "description": "W3C Trace Context traceparent.",
}
_TRACESTATE = {"type": "string", "description": "W3C Trace Context tracestate."}
JOB_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Optional. With a W3C trace context the job's spans (worker, handler, Redis, "
    "events) continue the publisher's trace; without one the job starts its own trace.",
    "properties": {"traceparent": _TRACEPARENT, "tracestate": _TRACESTATE},
}
"""Headers the workers read on a job message."""
JOB_EVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Set by Conveyor on every job event. The cursors place the event in its "
    "owner's event stream (Redis stream entry ids, ordered): a consumer that already has the "
    f"event at '{HEADER_PREV_CURSOR}' can apply this one without looking for a gap; otherwise "
    "it may have missed events (job events are not persistent) and can read them from "
    "'GET /api/v1/jobs/{job_id}/events?after_seq=N' using the body's 'seq'.",
    "properties": {
        HEADER_CURSOR: {
            "type": "string",
            "pattern": r"^[0-9]+-[0-9]+$",
            "description": "This event's entry id in its owner's event stream; the same value "
            "as a WebSocket event's 'cursor'.",
        },
        HEADER_PREV_CURSOR: {
            "type": "string",
            "pattern": r"^[0-9]+-[0-9]+$",
            "description": "The owner-stream entry just before this event's ('0-0' if none).",
        },
        "traceparent": {**_TRACEPARENT, "description": "The job's trace (W3C traceparent)."},
        "tracestate": _TRACESTATE,
    },
}
"""Headers Conveyor sets on the job events it publishes."""
FOLDED_EVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Set by Conveyor on every folded message: the headers of one job event, "
    f"whose '{HEADER_CURSOR}' is the last folded event's and '{HEADER_PREV_CURSOR}' the first "
    f"one's, plus '{HEADER_FOLDED}'. Each folded event carries its own cursors in the body.",
    "required": [HEADER_FOLDED],
    "properties": {
        **JOB_EVENT_HEADERS["properties"],
        HEADER_FOLDED: {
            "type": "string",
            "pattern": r"^[0-9]+$",
            "description": "Marks a folded message: the number of job events it carries "
            "(2 or more).",
        },
    },
}
"""Headers Conveyor sets on a folded message (several events of one job)."""
_DOMAIN_EVENTS = (DatasetUpdated, DatasetValidationFailed, SystemHealthReported)
_INBOUND_DOMAIN_EVENTS = (DatasetUpdated,)
"""Domain events other services publish to Conveyor; the rest Conveyor publishes."""
_TAGS = {
    "jobs": "Submitting jobs: one routing key per job type on the jobs exchange.",
    "job-events": "Job lifecycle events on the events exchange, numbered per job by 'seq'.",
    "domain-events": "Events about the data and the system on the events exchange.",
    "control": "Commands every running instance receives on its own queue.",
}


def _tags(*names: str) -> list[dict[str, str]]:
    return [{"name": name} for name in names]


def public_server_url(amqp_url: str) -> str:
    """``amqp_url`` without user, password, query or trailing slash: safe to publish.

    ``amqp://guest:secret@rabbit:5672/?heartbeat=30`` -> ``amqp://rabbit:5672``; a named virtual
    host stays (``amqp://rabbit/prod``).
    """
    parts = urllib.parse.urlsplit(amqp_url.split(",", 1)[0].strip())  # a cluster: the first node
    host = parts.hostname or "localhost"
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    path = "" if parts.path in ("", "/") else parts.path
    return urllib.parse.urlunsplit((parts.scheme or "amqp", netloc, path, "", ""))


def _tag(cls: Any) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _exchange(name: str, kind: str = "topic") -> dict[str, Any]:
    return {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}


def _channel_binding(exchange: dict[str, Any]) -> dict[str, Any]:
    return {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": _AMQP_BINDING}}


_LITERAL = re.compile(r"``(.+?)``")


def _summary(cls: Any) -> str:
    """The docstring's first paragraph as one plain line (reST literals unquoted)."""
    first = (cls.__doc__ or "").strip().split("\n\n")[0]
    return _LITERAL.sub(r"\1", " ".join(first.split()))


def _description(cls: Any) -> str:
    """The whole docstring as CommonMark (reST ``literals`` become `code`)."""
    paragraphs = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
    return "\n\n".join(_LITERAL.sub(r"`\1`", " ".join(p.split())) for p in paragraphs)


def _message(
    name: str,
    payload: dict[str, Any],
    cls: Any,
    *,
    tag: str,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messageId": name,
        "name": name,
        "title": name,
        "summary": _summary(cls),
        "description": _description(cls),
        "contentType": "application/json",
        "tags": _tags(tag),
        "payload": payload,
    }
    if headers is not None:
        message["headers"] = headers
    return message


def _asyncapi_schema(node: Any) -> Any:
    """msgspec emits OpenAPI's ``discriminator`` object; AsyncAPI 2.x wants the property name."""
    if isinstance(node, dict):
        return {
            key: value["propertyName"]
            if key == "discriminator" and isinstance(value, dict)
            else _asyncapi_schema(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_asyncapi_schema(item) for item in node]
    return node


def build_asyncapi(topology: Topology, *, server_url: str = DEFAULT_SERVER_URL) -> dict[str, Any]:
    """The AsyncAPI document for the deployment whose names ``topology`` gives.

    ``server_url`` is published as is: pass it through ``public_server_url`` first.
    """
    requests = list(JOB_REQUEST_TYPES.items())
    event_types = list(JOB_EVENT_KINDS)
    control_types = list(AnyControlCommand.__args__)
    roots, schemas = msgspec.json.schema_components(
        [
            JobEnvelope,
            *(cls for _, cls in requests),
            *event_types,
            FoldedJobEvents,
            *_DOMAIN_EVENTS,
            *control_types,
        ],
        ref_template=_REF,
    )
    envelope_ref = roots[0]
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    jobs_exchange = _exchange(topology.jobs)

    for (job_type, cls), request_ref in zip(requests, roots[1 : 1 + len(requests)], strict=True):
        name = f"{cls.__name__.removesuffix('Request')}Job"
        payload = {
            "allOf": [envelope_ref, {"properties": {"request": request_ref}}],
            "description": f"A JobEnvelope whose request is a {cls.__name__}.",
        }
        messages[name] = _message(name, payload, cls, tag="jobs", headers=JOB_HEADERS)
        channels[job_routing_key(job_type)] = {
            "description": f"Submit a {job_type!r} job: publish to the {topology.jobs!r} "
            f"exchange with routing key {job_routing_key(job_type)!r}.",
            "bindings": _channel_binding(jobs_exchange),
            "publish": {
                "operationId": f"submit_{job_type.replace('.', '_')}",
                "summary": f"Submit a {job_type} job",
                "description": "Persistent (delivery mode 2), content type application/json; "
                "set the AMQP priority from the envelope's priority (x-amqp-priority) and the "
                "user_id property to your broker user (RabbitMQ checks it): workers accept a "
                "job only from a broker user allowed to submit for its owner "
                "(CONVEYOR_PUBLISHER_OWNERS; see SECURITY.md). The worker creates the job "
                "record if none exists. With quorum queues (CONVEYOR_QUEUE_TYPE=quorum) "
                "there are no AMQP priorities: the routing key picks the priority lane "
                f"({lane_routing_key(job_routing_key(job_type), 'interactive')!r}, "
                f"{job_routing_key(job_type)!r} for bulk, "
                f"{lane_routing_key(job_routing_key(job_type), 'scheduled')!r}); "
                "see x-conveyor-lanes.",
                "tags": _tags("jobs"),
                "bindings": {
                    "amqp": {
                        "deliveryMode": 2,
                        "mandatory": True,
                        "bindingVersion": _AMQP_BINDING,
                    }
                },
                "x-amqp-priority": {p.value: p.amqp_priority for p in Priority},
                "x-conveyor-lanes": {
                    p.value: lane_routing_key(job_routing_key(job_type), p.value) for p in Priority
                },
                "message": {"$ref": f"#/components/messages/{name}"},
            },
        }

    offset = 1 + len(requests)
    event_refs = []
    for event_cls, ref in zip(event_types, roots[offset : offset + len(event_types)], strict=True):
        name = event_cls.__name__
        messages[name] = _message(name, ref, event_cls, tag="job-events", headers=JOB_EVENT_HEADERS)
        event_refs.append({"$ref": f"#/components/messages/{name}"})
    offset += len(event_types)
    name = FoldedJobEvents.__name__
    messages[name] = _message(
        name, roots[offset], FoldedJobEvents, tag="job-events", headers=FOLDED_EVENTS_HEADERS
    )
    event_refs.append({"$ref": f"#/components/messages/{name}"})
    channels["job.{owner}.{kind}.{job_type}"] = {
        "description": f"Job events on the {topology.events!r} exchange. Bind "
        "'job.<owner>.#' for one owner's jobs or 'job.#' for all; events of a job carry a "
        "gap-free 'seq'. Owner names are escaped into one word ('.', '*', '#', '%' "
        "percent-encoded). Job types may contain dots (maintenance jobs: "
        "'maintenance.cleanup_exports'), so the type can span several words: bind "
        "'job.*.succeeded.#', not 'job.*.succeeded.*', to get every job type's successes. "
        "Events of one job announced close together (a job done within the workers' "
        "CONVEYOR_EVENT_FOLD_WINDOW: queued, started, succeeded) may come as one "
        f"{FoldedJobEvents.__name__} message ('event': 'job.folded', header '{HEADER_FOLDED}') "
        "routed by its last event's kind: a subscriber bound to one kind receives it by that "
        "kind only (every final event still arrives), and finds the earlier events inside it. "
        "Split it into its events, each with its own 'seq' and cursors.",
        "parameters": {
            "owner": {"schema": {"type": "string"}, "description": "The job's owner, escaped"},
            "kind": {
                "schema": {"type": "string", "enum": list(JOB_EVENT_KINDS.values())},
                "description": "The event kind",
            },
            "job_type": {
                "schema": {"type": "string", "enum": list(JOB_REQUEST_TYPES)},
                "description": "The job type (one or more words)",
            },
        },
        "bindings": _channel_binding(_exchange(topology.events)),
        "subscribe": {
            "operationId": "receive_job_events",
            "summary": "Follow job events (non-persistent; Redis keeps each job's history)",
            "tags": _tags("job-events"),
            "message": {"oneOf": event_refs},
        },
    }

    offset += 1
    for domain_cls, ref in zip(
        _DOMAIN_EVENTS, roots[offset : offset + len(_DOMAIN_EVENTS)], strict=True
    ):
        name, key = domain_cls.__name__, _tag(domain_cls)
        messages[name] = _message(name, ref, domain_cls, tag="domain-events")
        # One direction per channel (a message id is unique in the document): outside services
        # announce new data, Conveyor reports on the data and the system.
        inbound = domain_cls in _INBOUND_DOMAIN_EVENTS
        channels[key] = {
            "description": f"Domain event {key!r} on the {topology.events!r} exchange. "
            + (
                "Other services may publish it (Conveyor's workers consume it) or bind it too."
                if inbound
                else "Published by Conveyor's maintenance service; bind it to receive it."
            ),
            "bindings": _channel_binding(_exchange(topology.events)),
            "publish" if inbound else "subscribe": {
                "operationId": f"{'publish' if inbound else 'receive'}_{key.replace('.', '_')}",
                "summary": f"{'Announce' if inbound else 'Receive'} {key}",
                "tags": _tags("domain-events"),
                "message": {"$ref": f"#/components/messages/{name}"},
            },
        }

    offset += len(_DOMAIN_EVENTS)
    for control_cls, ref in zip(control_types, roots[offset:], strict=True):
        name, key = control_cls.__name__, control_routing_key(_tag(control_cls))
        messages[name] = _message(name, ref, control_cls, tag="control")
        channels[key] = {
            "description": f"Control command on the {topology.control!r} exchange; every "
            "instance that obeys it receives it on its own queue.",
            "bindings": _channel_binding(_exchange(topology.control)),
            "publish": {
                "operationId": f"command_{_tag(control_cls)}",
                "summary": _summary(control_cls),
                "tags": _tags("control"),
                "message": {"$ref": f"#/components/messages/{name}"},
            },
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:conveyor:{topology.namespace}",
        "info": {
            "title": "Conveyor AMQP interface",
            "version": "1",
            "description": "Jobs, job events, domain events and control commands of one Conveyor "
            f"deployment (namespace {topology.namespace!r}). Bodies are JSON; unknown fields "
            "are ignored, so new optional fields may appear at any time.",
            "contact": CONTACT,
            "license": {"name": LICENSE_NAME},
        },
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "servers": {
            "rabbitmq": {"url": server_url, "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages, "schemas": _asyncapi_schema(schemas)},
    }
