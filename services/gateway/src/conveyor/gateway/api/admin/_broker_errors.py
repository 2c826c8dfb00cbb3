"""Turning a broker that cannot answer into a 503 the client can retry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from conveyor.contracts.errors import ErrorCode
from conveyor.gateway.errors import ServiceUnavailableError
from conveyor.gateway.state import Gateway
from conveyor.runtime.broker import BrokerUnavailableError


@contextlib.contextmanager
def broker_required(gw: Gateway) -> Iterator[None]:
    try:
        yield
    except (BrokerUnavailableError, *CONNECTION_EXCEPTIONS) as exc:
        raise ServiceUnavailableError(
            f"RabbitMQ is unavailable: {exc}",
            code=ErrorCode.BROKER_UNAVAILABLE,
            retry_after=gw.settings.retry_after_seconds,
        ) from exc
