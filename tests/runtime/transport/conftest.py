"""Every transport contract test runs in both modes (``Settings.transport``)."""

from __future__ import annotations

import pytest

from conveyor.runtime.transport.redis_connections import TransportMode


@pytest.fixture(params=["fast", "plain"])
def transport(request: pytest.FixtureRequest) -> TransportMode:
    mode: TransportMode = request.param
    return mode
