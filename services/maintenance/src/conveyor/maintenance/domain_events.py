"""Publishing the domain events maintenance jobs raise (``dataset.validation_failed``, ...)."""

from __future__ import annotations

import logging

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import Event
from conveyor.contracts.topology import domain_event_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.telemetry import inject_headers

log = logging.getLogger(__name__)


async def publish_domain_event(broker: Broker, event: Event) -> bool:
    """Publish ``event`` on ``events`` with its tag as routing key; ``False`` if it could not.

    Domain events are notifications: the job's report holds the same facts, so a broker
    hiccup is logged rather than failing (and re-running) the whole job.
    """
    key = domain_event_routing_key(type(event))
    try:
        await broker.publish_event(key, encode(event), headers=inject_headers({}))
    except BrokerUnavailableError as exc:
        log.warning("%s not published: %s", key, exc)
        return False
    return True
