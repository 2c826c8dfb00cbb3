"""The gateway's shared resources, as handlers reach them through the aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis

from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import GatewaySettings
from conveyor.runtime.store_epoch import StoreEpoch

if TYPE_CHECKING:
    from conveyor.gateway.limits import UserLimits
    from conveyor.gateway.ws.intake import EventIntake


@dataclass(slots=True)
class Gateway:
    """Everything ``bootstrap`` built; ``app`` serves it."""

    settings: GatewaySettings
    redis: Redis
    broker: Broker
    store: JobStore
    lifecycle: JobLifecycle
    metrics: Metrics
    intake: EventIntake
    app: web.Application
    limits: UserLimits
    epoch: StoreEpoch | None = None
    """Made by the first health check: whether Redis lost its data (see ``store_epoch``)."""


GATEWAY = web.AppKey("gateway", Gateway)


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]
