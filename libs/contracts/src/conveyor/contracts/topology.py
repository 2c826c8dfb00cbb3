"""AMQP names: exchanges, queues and routing keys, all under a namespace prefix.

Routing keys
  jobs     ``job.<type>``                          e.g. ``job.export``, ``job.maintenance.x``
  events   ``job.<owner>.<kind>.<type>``           job events; bind ``job.<owner>.#`` per user
           ``<domain event tag>``                   e.g. ``dataset.updated``, ``system.health``
  control  ``control.<command>``                   every instance binds what it obeys

Owner names are escaped into one routing-key word (``.``, ``*``, ``#`` and ``%``
percent-encoded) so a binding can never match another user's events.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

# AMQP headers we set on job messages (besides W3C ``traceparent``/``tracestate``).
HEADER_REASON = "x-conveyor-reason"
"""Dead letters: why the message was dead-lettered (a sentence)."""
HEADER_ERROR_CODE = "x-conveyor-error-code"
HEADER_SOURCE_QUEUE = "x-conveyor-source-queue"
HEADER_ROUTING_KEY = "x-conveyor-routing-key"
"""Dead letters and delayed retries: the routing key to republish with."""
HEADER_DELAY_MS = "conveyor-delay-ms"
"""Delayed retries: selects the delay queue (a headers-exchange binding). Not ``x-``-prefixed:
headers exchanges ignore ``x-`` headers when matching, which would route to every queue."""
HEADER_DEAD_AT = "x-conveyor-dead-lettered-at"
HEADER_CURSOR = "x-conveyor-cursor"
"""Job events: the entry id of the event in its owner's Redis event stream."""
HEADER_PREV_CURSOR = "x-conveyor-prev-cursor"
"""Job events: the owner-stream entry just before this event's ("0-0" if none)."""

_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A", "#": "%23"}


def routing_word(value: str) -> str:
    """Escape ``value`` into a single topic-exchange word."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def job_routing_key(job_type: str) -> str:
    return f"job.{job_type}"


def job_type_from_routing_key(routing_key: str) -> str | None:
    prefix = "job."
    return routing_key[len(prefix) :] if routing_key.startswith(prefix) else None


def job_event_routing_key(owner: str, kind: str, job_type: str) -> str:
    return f"job.{routing_word(owner)}.{kind}.{job_type}"


def owner_events_binding(owner: str) -> str:
    """Binding key on ``events`` for every job event of one owner."""
    return f"job.{routing_word(owner)}.#"


ALL_JOB_EVENTS_BINDING = "job.#"


def kind_events_binding(kind: str) -> str:
    """Binding key on ``events`` for one kind of job event (``succeeded``) of every owner."""
    return f"job.*.{kind}.#"


def control_routing_key(command: str) -> str:
    return f"control.{command}"


def command_routing_key(command: type[msgspec.Struct]) -> str:
    """Routing key of a control command class on ``control``: ``control.<its tag>``."""
    return control_routing_key(_tag(command))


def domain_event_routing_key(event: type[msgspec.Struct]) -> str:
    """Routing key of a domain event class on ``events``: its tag (``dataset.updated``)."""
    return _tag(event)


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__name__} has no string tag to route by")
    return tag


@dataclass(frozen=True, slots=True)
class Topology:
    """The AMQP names of one namespace. ``Topology("conveyor").jobs == "conveyor.jobs"``."""

    namespace: str

    def _name(self, suffix: str) -> str:
        return f"{self.namespace}.{suffix}"

    @property
    def jobs(self) -> str:
        """Topic exchange for job messages."""
        return self._name("jobs")

    @property
    def events(self) -> str:
        """Topic exchange for job events and domain events."""
        return self._name("events")

    @property
    def control(self) -> str:
        """Topic exchange for commands that reach every instance."""
        return self._name("control")

    @property
    def delays(self) -> str:
        """Headers exchange routing retries to the delay queue of their backoff."""
        return self._name("delays")

    @property
    def dead_letters(self) -> str:
        """Fanout exchange in front of the dead-letter queue."""
        return self._name("dead-letters")

    @property
    def dead_letter_queue(self) -> str:
        return self._name("dead-letters")

    def service_queue(self, service: str) -> str:
        """The durable job queue a service consumes (competing consumers share it)."""
        return self._name(f"jobs.{service}")

    def delay_queue(self, delay_ms: int) -> str:
        """Holds retries for ``delay_ms``, then dead-letters them back to ``jobs``."""
        return self._name(f"delay.{delay_ms}")

    def parked_queue(self, job_type: str) -> str:
        """Durable queue holding a paused job type's messages until it is resumed."""
        return self._name(f"parked.{job_type}")

    def instance_queue(self, purpose: str, instance: str) -> str:
        """Exclusive auto-delete queue of one process (control commands, gateway events)."""
        return self._name(f"{purpose}.{instance}")


SERVICE_BINDINGS: dict[str, tuple[str, ...]] = {
    "export": ("job.export",),
    "aggregates": ("job.aggregates", "job.search"),
    "maintenance": ("job.diagnostics", "job.maintenance.#"),
}
"""Job queue of each consuming service -> the ``jobs`` routing keys bound to it.

Every publisher declares these queues too, so a job published before its worker ever started
is kept, not dropped as unroutable.
"""
