"""JSON Schema export of every contract, for clients that do not import Python."""

from __future__ import annotations

from typing import Any

import msgspec

from conveyor.contracts.control import AnyControlCommand
from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.events import AnyEvent
from conveyor.contracts.heartbeats import WorkerHeartbeat
from conveyor.contracts.jobs import AnyJobRequest, JobEnvelope
from conveyor.contracts.records import JobEventPage, JobPage, JobRecord

EXPORTED: dict[str, Any] = {
    "JobEnvelope": JobEnvelope,
    "JobRequest": AnyJobRequest,
    "JobRecord": JobRecord,
    "JobPage": JobPage,
    "JobEventPage": JobEventPage,
    "Event": AnyEvent,
    "ControlCommand": AnyControlCommand,
    "WorkerHeartbeat": WorkerHeartbeat,
    "ErrorResponse": ErrorResponse,
}


def json_schema(ref_template: str = "#/$defs/{name}") -> dict[str, Any]:
    """One JSON Schema document: ``$defs`` holds every type, ``properties`` the roots."""
    names = list(EXPORTED)
    roots, components = msgspec.json.schema_components(
        [EXPORTED[n] for n in names], ref_template=ref_template
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Conveyor contracts",
        "properties": dict(zip(names, roots, strict=True)),
        "$defs": components,
    }
