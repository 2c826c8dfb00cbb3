"""AMQP names: exchanges, queues and routing keys, all under a namespace prefix.

Routing keys
  jobs     ``job.<type>``                          e.g. ``job.export``, ``job.maintenance.x``
  events   ``job.<owner>.<kind>.<type>``           job events; bind ``job.<owner>.#`` per user
           ``<domain event tag>``                   e.g. ``dataset.updated``, ``system.health``
  control  ``control.<command>``                   every instance binds what it obeys

Quorum mode (``CONVEYOR_QUEUE_TYPE=quorum``) has no AMQP priorities: each service has one queue
per priority lane, and the routing key picks the lane: ``job.<type>`` the bulk lane (the
envelope's default priority), ``interactive.job.<type>`` and ``scheduled.job.<type>`` the
others (``lane_routing_key``). Conveyor's own publishers choose the lane from the priority.

Owner names are escaped into one routing-key word (``.``, ``*``, ``#`` and ``%``
percent-encoded) so a binding can never match another user's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

QueueType = Literal["classic", "quorum"]

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
HEADER_FOLDED = "x-conveyor-folded"
"""Job events: set on a folded message (``conveyor.contracts.folded_events``), the number of
events it carries; its cursor is the last event's and its previous cursor the first event's."""

_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A", "#": "%23"}


def routing_word(value: str) -> str:
    """Escape ``value`` into a single topic-exchange word."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def job_routing_key(job_type: str) -> str:
    return f"job.{job_type}"


def job_type_from_routing_key(routing_key: str) -> str | None:
    prefix = "job."
    return routing_key[len(prefix) :] if routing_key.startswith(prefix) else None


LANES: tuple[tuple[str, int], ...] = (("interactive", 2), ("bulk", 1), ("scheduled", 0))
"""Quorum mode's priority lanes, highest first, with the AMQP priority each one stands for
(``Priority.amqp_priority``)."""
DEFAULT_LANE = "bulk"
"""The lane of an unprefixed ``job.<type>`` key: the envelope's default priority."""
_LANE_PRIORITY = dict(LANES)


def lane_of_priority(amqp_priority: int | None) -> str:
    """The lane of a message published with ``amqp_priority`` (none: the default lane)."""
    if amqp_priority is None:
        return DEFAULT_LANE
    for lane, priority in LANES:
        if amqp_priority >= priority:
            return lane
    return LANES[-1][0]


def split_lane(routing_key: str) -> tuple[str, str]:
    """``interactive.job.export`` -> ``("interactive", "job.export")``; unprefixed keys are
    the default lane's."""
    lane, _, rest = routing_key.partition(".")
    if lane in _LANE_PRIORITY and lane != DEFAULT_LANE and rest.startswith("job."):
        return lane, rest
    return DEFAULT_LANE, routing_key


def lane_routing_key(routing_key: str, lane: str) -> str:
    """``routing_key`` (a job key or binding, with or without a lane) moved into ``lane``."""
    _, key = split_lane(routing_key)
    return key if lane == DEFAULT_LANE else f"{lane}.{key}"


def delivery_rank(routing_key: str, amqp_priority: int | None) -> int:
    """The priority a delivered job runs at: its AMQP priority, else its lane's.

    A direct publisher that set the priority property but used the plain key is honoured
    within the worker; only the broker-side lane is the default one.
    """
    if amqp_priority is not None:
        return amqp_priority
    return _LANE_PRIORITY[split_lane(routing_key)[0]]


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
    queue_type: QueueType = "classic"
    """The type of every durable queue. Quorum queues have names of their own (a queue cannot
    change type in place, so both kinds can live side by side during a switch)."""

    def _name(self, suffix: str) -> str:
        return f"{self.namespace}.{suffix}"

    def _durable(self, suffix: str) -> str:
        return self._name(f"{suffix}.quorum" if self.queue_type == "quorum" else suffix)

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
        return self._durable("dead-letters")

    def service_queue(self, service: str) -> str:
        """The durable job queue a service consumes (competing consumers share it) in classic
        mode; it names the service's queues in logs and dead letters in both modes."""
        return self._name(f"jobs.{service}")

    def job_queues(self, service: str) -> tuple[tuple[str, str | None], ...]:
        """A service's job queues, highest priority first, each with its lane (classic: one
        queue, no lane; quorum: one per lane, ``<ns>.jobs.<service>.<lane>``)."""
        if self.queue_type == "classic":
            return ((self.service_queue(service), None),)
        return tuple((self._name(f"jobs.{service}.{lane}"), lane) for lane, _ in LANES)

    def delay_queue(self, delay_ms: int) -> str:
        """Holds retries for ``delay_ms``, then dead-letters them back to ``jobs``."""
        return self._durable(f"delay.{delay_ms}")

    def parked_queue(self, job_type: str) -> str:
        """Durable queue holding a paused job type's messages until it is resumed."""
        return self._durable(f"parked.{job_type}")

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
