"""The AsyncAPI 2.6 document of Conveyor's AMQP interface, generated from the contracts.

It names every exchange, routing key and message (JSON Schemas from msgspec), so a service
in any language can publish jobs and consume events without importing Python. Channels are
routing keys; each channel's ``bindings.amqp.exchange`` names the exchange to use. In AsyncAPI
2.x terms a ``publish`` operation is one other applications perform (jobs, domain events),
``subscribe`` one they receive (job events, domain events).
"""

from __future__ import annotations

from typing import Any

import msgspec

from conveyor.contracts.control import AnyControlCommand
from conveyor.contracts.events import (
    JOB_EVENT_KINDS,
    DatasetUpdated,
    DatasetValidationFailed,
    SystemHealthReported,
)
from conveyor.contracts.jobs import JOB_REQUEST_TYPES, JobEnvelope, Priority
from conveyor.contracts.topology import Topology, control_routing_key, job_routing_key

ASYNCAPI_VERSION = "2.6.0"
_REF = "#/components/schemas/{name}"
_AMQP_BINDING = "0.2.0"
TRACE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "AMQP message headers. W3C trace context is optional but recommended: the "
    "job's spans then continue the publisher's trace.",
    "properties": {
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C Trace Context traceparent",
        },
        "tracestate": {"type": "string", "description": "W3C Trace Context tracestate"},
    },
}
"""Headers Conveyor reads on every message it consumes."""
_DOMAIN_EVENTS = (DatasetUpdated, DatasetValidationFailed, SystemHealthReported)


def _tag(cls: Any) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _exchange(name: str, kind: str = "topic") -> dict[str, Any]:
    return {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}


def _channel_binding(exchange: dict[str, Any]) -> dict[str, Any]:
    return {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": _AMQP_BINDING}}


def _message(name: str, payload: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "headers": TRACE_HEADERS,
        "payload": payload,
    }


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


def _doc(cls: Any) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def build_asyncapi(
    topology: Topology, *, server_url: str = "amqp://localhost:5672/"
) -> dict[str, Any]:
    """The AsyncAPI document for the deployment whose names ``topology`` gives."""
    requests = list(JOB_REQUEST_TYPES.items())
    event_types = list(JOB_EVENT_KINDS)
    control_types = list(AnyControlCommand.__args__)
    roots, schemas = msgspec.json.schema_components(
        [JobEnvelope, *(cls for _, cls in requests), *event_types, *_DOMAIN_EVENTS, *control_types],
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
        messages[name] = _message(name, payload, _doc(cls))
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
                "record if none exists.",
                "bindings": {
                    "amqp": {
                        "deliveryMode": 2,
                        "mandatory": True,
                        "bindingVersion": _AMQP_BINDING,
                    }
                },
                "x-amqp-priority": {p.value: p.amqp_priority for p in Priority},
                "message": {"$ref": f"#/components/messages/{name}"},
            },
        }

    offset = 1 + len(requests)
    event_refs = []
    for event_cls, ref in zip(event_types, roots[offset : offset + len(event_types)], strict=True):
        name = event_cls.__name__
        messages[name] = _message(
            name, ref, _doc(event_cls) or f"The job's {_tag(event_cls)} event."
        )
        event_refs.append({"$ref": f"#/components/messages/{name}"})
    channels["job.{owner}.{kind}.{job_type}"] = {
        "description": f"Job events on the {topology.events!r} exchange. Bind "
        "'job.<owner>.#' for one owner's jobs or 'job.#' for all; events of a job carry a "
        "gap-free 'seq'. Owner names are escaped into one word ('.', '*', '#', '%' "
        "percent-encoded).",
        "parameters": {
            "owner": {"schema": {"type": "string"}, "description": "The job's owner, escaped"},
            "kind": {
                "schema": {"type": "string", "enum": list(JOB_EVENT_KINDS.values())},
                "description": "The event kind",
            },
            "job_type": {
                "schema": {"type": "string", "enum": list(JOB_REQUEST_TYPES)},
                "description": "The job type",
            },
        },
        "bindings": _channel_binding(_exchange(topology.events)),
        "subscribe": {
            "operationId": "receive_job_events",
            "summary": "Follow job events (non-persistent; Redis keeps each job's history)",
            "message": {"oneOf": event_refs},
        },
    }

    offset += len(event_types)
    for domain_cls, ref in zip(
        _DOMAIN_EVENTS, roots[offset : offset + len(_DOMAIN_EVENTS)], strict=True
    ):
        name, key = domain_cls.__name__, _tag(domain_cls)
        messages[name] = _message(name, ref, _doc(domain_cls))
        operation = {"message": {"$ref": f"#/components/messages/{name}"}}
        channels[key] = {
            "description": f"Domain event {key!r} on the {topology.events!r} exchange.",
            "bindings": _channel_binding(_exchange(topology.events)),
            "publish": {"operationId": f"publish_{key.replace('.', '_')}", **operation},
            "subscribe": {"operationId": f"receive_{key.replace('.', '_')}", **operation},
        }

    offset += len(_DOMAIN_EVENTS)
    for control_cls, ref in zip(control_types, roots[offset:], strict=True):
        name, key = control_cls.__name__, control_routing_key(_tag(control_cls))
        messages[name] = _message(name, ref, _doc(control_cls))
        channels[key] = {
            "description": f"Control command on the {topology.control!r} exchange; every "
            "instance that obeys it receives it on its own queue.",
            "bindings": _channel_binding(_exchange(topology.control)),
            "publish": {
                "operationId": f"command_{_tag(control_cls)}",
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
        },
        "servers": {
            "rabbitmq": {"url": server_url, "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages, "schemas": _asyncapi_schema(schemas)},
    }
